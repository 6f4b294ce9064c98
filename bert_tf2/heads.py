"""Sketch-BERT task heads: stacks of affine layers (no activations, as the original, B23).

| task | pooled rows | output |
|---|---|---|
| `maskrec` | every row after the `T` special tokens | `[B, L, input_dim]` offsets + pen logits |
| `sketchclsinput` | the class token (row 1 with a retrieval token, else 0) | `[B, cls_dim]` |
| `sketchretrieval` | the retrieval token (row 0) | `[B, rel_feat_dim]` features |

The hidden widths come from the config's `rec_layers_setting` / `cls_layers_setting` /
`rel_layers_setting`. The heads copy these lists: the original reconstruction head prepends the
hidden size and appends `input_dim` to the config's list in place (B18), which this port does not
replicate.
"""

import keras

from bert_tf2.errors import BertConfigError
from bert_tf2.layers.linear import torch_linear

SUPPORTED_TASKS = ("maskrec", "sketchclsinput", "sketchretrieval")


class AffineHead(keras.layers.Layer):
    """Base of the heads: select rows of the encoder output, then an affine stack.

    Args:
        hidden_dim: encoder width `H`.
        hidden_widths: widths of the intermediate affine layers (may be empty).
        output_dim: width of the last affine layer.

    Subclasses set `torch_prefix` (the original's `nn.ModuleList` name, used for layer names and
    by the converter) and implement `select_rows`.
    """

    torch_prefix = ""

    def __init__(self, hidden_dim, hidden_widths, output_dim, **kwargs):
        super().__init__(**kwargs)
        # === Layers ===
        widths = [hidden_dim] + list(hidden_widths) + [output_dim]
        self.dense_layers = [
            torch_linear(units, fan_in, name=f"{self.torch_prefix}_{index}")
            for index, (fan_in, units) in enumerate(zip(widths[:-1], widths[1:]))]

        # === Config ===
        self.hidden_dim = hidden_dim
        self.hidden_widths = list(hidden_widths)
        self.output_dim = output_dim

    def build(self, input_shape):
        widths = [self.hidden_dim] + self.hidden_widths
        for layer, fan_in in zip(self.dense_layers, widths):
            layer.build((None, fan_in))

    def select_rows(self, hidden_states):
        raise NotImplementedError

    def call(self, hidden_states):
        outputs = self.select_rows(hidden_states)
        for layer in self.dense_layers:
            outputs = layer(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, hidden_widths=self.hidden_widths,
                      output_dim=self.output_dim)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class MaskRecHead(AffineHead):
    """Masked reconstruction (`maskrec`): drops the special-token rows, predicts every row.

    Args:
        hidden_dim: encoder width `H`.
        hidden_widths: `rec_layers_setting`.
        output_dim: `input_dim` (columns 0-1 offsets, 2-4 pen-state logits for stroke-5).
        num_prefix_tokens: number `T` of special-token rows in front of the sketch.

    Call args:
        hidden_states: `[B, T + L, H]`.

    Returns:
        `[B, L, output_dim]`.
    """

    torch_prefix = "re_fcs"

    def __init__(self, hidden_dim, hidden_widths, output_dim, num_prefix_tokens=0, **kwargs):
        super().__init__(hidden_dim, hidden_widths, output_dim, **kwargs)
        # === Config ===
        self.num_prefix_tokens = num_prefix_tokens

    def select_rows(self, hidden_states):
        return hidden_states[:, self.num_prefix_tokens:, :]

    def get_config(self):
        config = super().get_config()
        config.update(num_prefix_tokens=self.num_prefix_tokens)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class PooledHead(AffineHead):
    """A head reading one token row (`sketchclsinput`, `sketchretrieval`).

    Args:
        hidden_dim: encoder width `H`.
        hidden_widths: `cls_layers_setting` / `rel_layers_setting`.
        output_dim: `cls_dim` / `rel_feat_dim`.
        pool_index: the row read.

    Call args:
        hidden_states: `[B, S, H]`.

    Returns:
        `[B, output_dim]`.
    """

    def __init__(self, hidden_dim, hidden_widths, output_dim, pool_index=0, **kwargs):
        super().__init__(hidden_dim, hidden_widths, output_dim, **kwargs)
        # === Config ===
        self.pool_index = pool_index

    def select_rows(self, hidden_states):
        return hidden_states[:, self.pool_index, :]

    def get_config(self):
        config = super().get_config()
        config.update(pool_index=self.pool_index)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchClsInputHead(PooledHead):
    """Classification through the prepended class token; see `PooledHead`."""

    torch_prefix = "cls_fcs"


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchRetrievalHead(PooledHead):
    """Retrieval features (not normalised) from the retrieval token; see `PooledHead`."""

    torch_prefix = "rel_fcs"


def prefix_token_flags(task_types):
    """`(has_retrieval_token, has_class_token)` for a task list (row order: retrieval, class)."""
    return "sketchretrieval" in task_types, "sketchclsinput" in task_types


def num_prefix_tokens(task_types):
    """Number `T` of special-token rows the dataset prepends for these tasks (0, 1 or 2)."""
    return sum(prefix_token_flags(task_types))


def build_heads(config, hidden_dim):
    """One head per entry of `config.task_types`, named after the task.

    Args:
        config: a `bert_tf2.config.Config` (or mapping) with `task_types`, `input_dim`,
            `cls_dim`, `rel_feat_dim` and the `*_layers_setting` keys of the tasks present.
        hidden_dim: encoder width `H`.

    Returns:
        dict task name → unbuilt head layer, in `task_types` order.

    Raises:
        BertConfigError: a task without a ported head.
    """
    task_types = list(config["task_types"])
    has_retrieval, _ = prefix_token_flags(task_types)
    heads = {}
    for task in task_types:
        if task == "maskrec":
            heads[task] = MaskRecHead(
                hidden_dim, config["rec_layers_setting"], config["input_dim"],
                num_prefix_tokens(task_types), name=task)
        elif task == "sketchclsinput":
            heads[task] = SketchClsInputHead(
                hidden_dim, config["cls_layers_setting"], config["cls_dim"],
                pool_index=int(has_retrieval), name=task)
        elif task == "sketchretrieval":
            heads[task] = SketchRetrievalHead(
                hidden_dim, config["rel_layers_setting"], config["rel_feat_dim"],
                pool_index=0, name=task)
        else:
            raise BertConfigError(
                f"task '{task}' in task_types has no head in this port; supported tasks are "
                f"{SUPPORTED_TASKS} (maskgmm/maskdisc/sketchcls are broken upstream, spec §7)")
    return heads
