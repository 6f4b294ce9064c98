"""The original (PyTorch) state-dict layout of a `SketchBertModel`, in both directions.

`model_parameters(model)` maps every original state-dict key (`netE_state`, `net_<task>_state`) to
the Keras variable holding it (`Parameter`, transposed for `nn.Linear` weights);
`export_state_dicts` reads a model into that layout, `import_state_dicts` fills a model from it,
re-aligning the position rows when the special tokens differ (`remap_position_rows`, spec §3.7).
Used by the converter (`bert_tf2.convert`), by `bert_tf2.checkpoint.load_checkpoint` (re-targeting
a native checkpoint to another token layout), by the trainer (restoring, optimizer-state names)
and by the parity checks.
"""

import dataclasses

import numpy as np
from absl import logging

from bert_tf2.errors import BertCheckpointError
from bert_tf2.heads import prefix_token_flags

POSITION_KEY = "pos_embedding.pos_embedding.weight"
ENCODER_STATE = "netE_state"

_LAYER_PARAMETERS = (
    # (torch module path inside a layer, attribute path of the Keras sublayer)
    ("attention.attention.query", ("attention", "query")),
    ("attention.attention.key", ("attention", "key")),
    ("attention.attention.value", ("attention", "value")),
    ("attention.output.fc", ("attention_output",)),
    ("attention.output.norm", ("attention_norm",)),
    ("inter_layer.fc", ("intermediate",)),
    ("output.fc", ("output_projection",)),
    ("output.norm", ("output_norm",)),
)


@dataclasses.dataclass
class Parameter:
    """One torch state-dict entry and the Keras variable holding it.

    Attributes:
        variable: the Keras variable.
        transpose: True for `nn.Linear.weight` ↔ `Dense.kernel` (`[out, in]` vs `[in, out]`).
    """

    variable: object
    transpose: bool = False

    def to_torch(self):
        value = np.asarray(self.variable.numpy())
        return value.T if self.transpose else value

    def torch_shape(self):
        shape = tuple(self.variable.shape)
        return shape[::-1] if self.transpose else shape

    def assign_torch(self, value):
        value = np.asarray(value, dtype=np.float32)
        self.variable.assign(value.T if self.transpose else value)


def _module_parameters(prefix, layer):
    """Entries of a Dense (`weight`/`bias`) or LayerNormalization (`weight`/`bias`)."""
    if hasattr(layer, "kernel"):
        return {f"{prefix}.weight": Parameter(layer.kernel, transpose=True),
                f"{prefix}.bias": Parameter(layer.bias)}
    return {f"{prefix}.weight": Parameter(layer.gamma), f"{prefix}.bias": Parameter(layer.beta)}


def encoder_parameters(encoder):
    """Torch `netE_state` key → `Parameter` for a `SketchBertEncoder`, in the original order."""
    embedding = encoder.embedding
    table = dict(_module_parameters("embedding.embedding", embedding.point_embedding))
    if embedding.position_embedding is not None and embedding.position_type == "learn":
        table[POSITION_KEY] = Parameter(embedding.position_embedding.table)
    if embedding.segment_embedding is not None:
        table["segment_embedding.pos_embedding.weight"] = Parameter(
            embedding.segment_embedding.table)
    for index, layer in enumerate(embedding.refine_layers):
        table.update(_module_parameters(f"embed_refine_net.layers.{index}", layer))
    stack = encoder.encoder
    prefixes = (["encoder.sketch_layer"] if stack.model_type == "albert"
                else [f"encoder.layers.{index}" for index in range(stack.num_layers)])
    for prefix, sketch_layer in zip(prefixes, stack.sketch_layers):
        for torch_path, attributes in _LAYER_PARAMETERS:
            sublayer = sketch_layer
            for attribute in attributes:
                sublayer = getattr(sublayer, attribute)
            table.update(_module_parameters(f"{prefix}.{torch_path}", sublayer))
    return table


def head_parameters(head):
    """Torch `net_<task>_state` key → `Parameter` for a head of `bert_tf2.heads`."""
    table = {}
    for index, layer in enumerate(head.dense_layers):
        table.update(_module_parameters(f"{head.torch_prefix}.{index}", layer))
    return table


def model_parameters(model):
    """`{checkpoint key: {state-dict key: Parameter}}` for a `SketchBertModel`."""
    tables = {ENCODER_STATE: encoder_parameters(model.encoder)}
    for task, head in model.heads.items():
        tables[f"net_{task}_state"] = head_parameters(head)
    return tables


def export_state_dicts(model):
    """The model's weights as original-layout state dicts of numpy arrays.

    Returns:
        dict `netE_state` / `net_<task>_state` → {torch key: array}.
    """
    return {name: {key: parameter.to_torch() for key, parameter in table.items()}
            for name, table in model_parameters(model).items()}


def remap_position_rows(own_rows, pre_rows, own_tasks, pre_tasks, fix_token_row_typo=True):
    """Which checkpoint position rows fill which rows of the target table (spec §3.7).

    Point rows are aligned (the first point position of one table goes to the first point
    position of the other, as far as both reach); token rows are copied when both layouts have
    that token. Row order is `[retrieval, class, points...]`.

    Upstream's `load_model` tests `pre_cls and pre_cls` where `pre_rel and pre_cls` was meant:
    with a target holding both tokens and a checkpoint holding only the class token, it copies
    checkpoint rows 0 and 1 (its class row and its *first point* row) into the target's
    retrieval and class rows. `fix_token_row_typo=True` (default) instead copies the
    checkpoint's class row into the target's class row and leaves the retrieval row fresh;
    False reproduces upstream.

    Args:
        own_rows, pre_rows: row counts of the target and checkpoint tables.
        own_tasks, pre_tasks: task lists of the target and of the checkpoint's saved config.
        fix_token_row_typo: see above.

    Returns:
        dict target row → checkpoint row; target rows absent keep their fresh initialisation.
    """
    own_rel, own_cls = prefix_token_flags(own_tasks)
    pre_rel, pre_cls = prefix_token_flags(pre_tasks)
    own_start, pre_start = own_rel + own_cls, pre_rel + pre_cls
    count = min(own_rows - own_start, pre_rows - pre_start)
    mapping = {own_start + offset: pre_start + offset for offset in range(count)}
    if own_rel and own_cls and pre_cls and not pre_rel and not fix_token_row_typo:
        mapping.update({0: 0, 1: 1})
        return mapping
    if own_rel and pre_rel:
        mapping[0] = 0
    if own_cls and pre_cls:
        mapping[int(own_rel)] = int(pre_rel)
    return mapping


@dataclasses.dataclass
class ImportSummary:
    """What `import_state_dicts` could not fill from the checkpoint.

    Attributes:
        fresh_position_rows: target position rows left at their fresh initialisation.
        fresh_heads: target tasks whose head state was absent from the checkpoint.
        ignored_states: checkpoint head states of tasks the target does not have.
    """

    fresh_position_rows: list
    fresh_heads: list
    ignored_states: list


def _check_and_assign(name, table, state, source, position_rows=None):
    missing = [key for key in table if key not in state]
    unexpected = [key for key in state if key not in table]
    mismatched = []
    for key, parameter in table.items():
        checked = slice(1, None) if key == POSITION_KEY else slice(None)
        if key in state and (
                tuple(np.shape(state[key]))[checked] != parameter.torch_shape()[checked]):
            mismatched.append(f"{key}: checkpoint {tuple(np.shape(state[key]))} vs model "
                              f"{parameter.torch_shape()}")
    if missing or unexpected or mismatched:
        lines = [f"{source}: '{name}' does not match the model built from the config"]
        if missing:
            lines.append("  keys the model needs but the checkpoint lacks: " + ", ".join(missing))
        if unexpected:
            lines.append("  checkpoint keys the model has no place for: " + ", ".join(unexpected))
        if mismatched:
            lines.append("  shape mismatches: " + "; ".join(mismatched))
        lines.append("  fix: use the config the checkpoint was trained with (model_type, "
                     "layers_setting, embed_layers_setting, position_type, segment_type, "
                     "*_layers_setting, cls_dim, rel_feat_dim, input_dim)")
        raise BertCheckpointError("\n".join(lines))
    for key, parameter in table.items():
        if key == POSITION_KEY and position_rows is not None:
            table_value = np.array(parameter.variable.numpy())
            for own_row, pre_row in position_rows.items():
                table_value[own_row] = state[key][pre_row]
            parameter.assign_torch(table_value)
        else:
            parameter.assign_torch(state[key])


def import_state_dicts(model, state_dicts, own_tasks, pre_tasks, source="checkpoint",
                       fix_token_row_typo=True):
    """Copies original-layout state dicts into a `SketchBertModel` (in place).

    Args:
        model: the target model (built from the target config).
        state_dicts: dict with `netE_state` and optionally `net_<task>_state` entries.
        own_tasks: the target's `task_types`.
        pre_tasks: the checkpoint's `task_types` (decides its token rows).
        source: name of the checkpoint for messages.
        fix_token_row_typo: see `remap_position_rows`.

    Returns:
        `ImportSummary`.

    Raises:
        BertCheckpointError: missing, unexpected or mis-shaped keys (all listed).
    """
    if ENCODER_STATE not in state_dicts:
        raise BertCheckpointError(
            f"{source}: no '{ENCODER_STATE}' entry (found {sorted(state_dicts)}); pass a "
            "checkpoint written by the Sketch-BERT trainer")
    tables = model_parameters(model)
    encoder_state = state_dicts[ENCODER_STATE]
    fresh_rows = []
    position_rows = None
    if POSITION_KEY in tables[ENCODER_STATE] and POSITION_KEY in encoder_state:
        own_rows = tables[ENCODER_STATE][POSITION_KEY].torch_shape()[0]
        pre_rows = np.shape(encoder_state[POSITION_KEY])[0]
        position_rows = remap_position_rows(own_rows, pre_rows, own_tasks, pre_tasks,
                                            fix_token_row_typo)
        fresh_rows = [row for row in range(own_rows) if row not in position_rows]
        if fresh_rows:
            logging.info("%s: position rows %s keep their fresh N(0, 1) initialisation",
                         source, fresh_rows)
    _check_and_assign(ENCODER_STATE, tables[ENCODER_STATE], encoder_state, source,
                      position_rows)
    fresh_heads = []
    for name, table in tables.items():
        if name == ENCODER_STATE:
            continue
        if state_dicts.get(name) is None:
            fresh_heads.append(name[len("net_"):-len("_state")])
            logging.info("%s: no '%s'; this head keeps its fresh initialisation", source, name)
            continue
        _check_and_assign(name, table, state_dicts[name], source)
    ignored = [name for name in state_dicts
               if name.startswith("net_") and name.endswith("_state") and name not in tables
               and state_dicts[name] is not None]
    for name in ignored:
        logging.info("%s: '%s' is not used by the target task_types", source, name)
    return ImportSummary(fresh_rows, fresh_heads, ignored)
