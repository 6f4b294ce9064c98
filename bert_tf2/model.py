"""The Sketch-BERT encoder (`netE`) and the encoder + task-heads model.

The classes take explicit arguments (keras-hub's `BertBackbone` style: `# === Layers ===` /
`# === Config ===`, `get_config` returns exactly the constructor arguments).
`build_model(config)` is the one boundary from the YAML `Config` (original keys) to those
arguments (`encoder_arguments`, `bert_tf2.heads.build_heads`): it returns a built
`SketchBertModel` whose `encoder` mirrors the original `SketchTransformerModel` and whose `heads`
are the task heads of `config.task_types`. Names: the YAML `max_length` is `L`, the sketch rows
of an example (start row included); the encoder's `num_positions` is `T + L` with the `T`
special-token rows.
"""

import keras
from keras import ops

from bert_tf2.errors import BertConfigError
from bert_tf2.heads import build_heads, num_prefix_tokens
from bert_tf2.layers.attention import attention_bias
from bert_tf2.layers.embedding import SketchEmbedding
from bert_tf2.layers.transformer import SketchTransformerStack


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchBertEncoder(keras.Model):
    """Embedding + transformer stack; no pooler and no final norm (the original `netE`).

    Args:
        model_type: `'albert'` (one shared layer) or `'bert'` (independent layers).
        layers_setting: list of `[num_heads, hidden_dim, intermediate_dim]`, one per layer.
        embed_layers_setting: `[E, ...]` point-embedding width and refine-stack widths.
        input_dim: width of an input row (5 for stroke-5).
        num_positions: position-table rows `T + L`: the `T` special-token rows (0-2, see
            `bert_tf2.heads.num_prefix_tokens`) plus the YAML `max_length` `L` of sketch rows.
        position_type: `'learn'`, `'sin'` or `'none'`.
        segment_type: `'learn'` adds a learned segment embedding; anything else disables it.
        inter_activation: `'gelu'` (exact) or `'relu'`.
        attention_dropout_prob, hidden_dropout_prob, output_dropout_prob: dropout rates.
        sketch_embed_type: only `'linear'` is ported.
        attention_norm_type: only `'LN'` works upstream (B44).

    Call args:
        input_states: `[B, S, input_dim]` float (special-token rows are constant -1 / -2 rows).
        attention_mask: `[B, S]` (or `[B, S, S]`) with 1 = attend, 0 = padding; None = all ones.
        segments: optional `[B, S]` integer segment ids (only used with `segment_type 'learn'`).
        training: enables dropout.
        output_all_states: also return every intermediate (see Returns).
        output_attentions: also return the attention probabilities of every layer.

    Returns:
        `[B, S, H]` last-layer hidden states; with either flag set a dict with
        `sequence_output` plus, for `output_all_states`: `point_embedding [B, S, E]`,
        `embedding_sum [B, S, E]`, `encoder_input [B, S, H]` and the per-layer lists
        `layer_outputs`, `attention_block_outputs` (`[B, S, H]`) and `intermediates`
        (`[B, S, I]`); for `output_attentions`: `attention_probabilities` (`[B, A, S, S]` each).
    """

    def __init__(self, model_type, layers_setting, embed_layers_setting, input_dim, num_positions,
                 position_type="learn", segment_type="none", inter_activation="gelu",
                 attention_dropout_prob=0.0, hidden_dropout_prob=0.0, output_dropout_prob=0.0,
                 sketch_embed_type="linear", attention_norm_type="LN", **kwargs):
        if sketch_embed_type != "linear":
            raise BertConfigError(
                f"sketch_embed_type {sketch_embed_type!r} is not ported; use 'linear' (the "
                "discrete embedding is broken upstream, spec B24)")
        if attention_norm_type != "LN":
            raise BertConfigError(
                f"attention_norm_type {attention_norm_type!r} is not supported; use 'LN' (the "
                "batch-norm options normalise the wrong axis upstream, spec B44)")
        super().__init__(**kwargs)
        # === Layers ===
        # (attribute and layer names are the variable paths of `model.weights.h5`: keep them)
        hidden_dim = layers_setting[0][1]
        self.embedding = SketchEmbedding(
            input_dim, list(embed_layers_setting), hidden_dim, num_positions, position_type,
            segment_type, name="embedding")
        self.encoder = SketchTransformerStack(
            model_type, [list(entry) for entry in layers_setting], attention_dropout_prob,
            hidden_dropout_prob, output_dropout_prob, inter_activation, name="encoder")

        # === Config ===
        self.model_type = model_type
        self.layers_setting = [list(entry) for entry in layers_setting]
        self.embed_layers_setting = list(embed_layers_setting)
        self.input_dim = input_dim
        self.num_positions = num_positions
        self.position_type = position_type
        self.segment_type = segment_type
        self.inter_activation = inter_activation
        self.attention_dropout_prob = attention_dropout_prob
        self.hidden_dropout_prob = hidden_dropout_prob
        self.output_dropout_prob = output_dropout_prob
        self.sketch_embed_type = sketch_embed_type
        self.attention_norm_type = attention_norm_type
        self.hidden_dim = hidden_dim  # derived: the width of the first layer

    def build(self, input_shape=None):
        self.embedding.build((None, None, self.input_dim))
        self.encoder.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, input_states, attention_mask=None, segments=None, training=None,
             output_all_states=False, output_attentions=False):
        input_states = ops.cast(input_states, self.compute_dtype)
        if attention_mask is None:
            attention_mask = ops.ones(ops.shape(input_states)[:2], dtype="float32")
        point_embedding, embedding_sum, encoder_input = self.embedding(
            input_states, segments=segments)
        stack = self.encoder(encoder_input, attention_bias(attention_mask), training=training)
        sequence_output = stack["layer_outputs"][-1]
        if not (output_all_states or output_attentions):
            return sequence_output
        outputs = {"sequence_output": sequence_output}
        if output_all_states:
            outputs.update(
                point_embedding=point_embedding, embedding_sum=embedding_sum,
                encoder_input=encoder_input, layer_outputs=stack["layer_outputs"],
                attention_block_outputs=stack["attention_block_outputs"],
                intermediates=stack["intermediates"])
        if output_attentions:
            outputs["attention_probabilities"] = stack["attention_probabilities"]
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            model_type=self.model_type, layers_setting=self.layers_setting,
            embed_layers_setting=self.embed_layers_setting, input_dim=self.input_dim,
            num_positions=self.num_positions, position_type=self.position_type,
            segment_type=self.segment_type, inter_activation=self.inter_activation,
            attention_dropout_prob=self.attention_dropout_prob,
            hidden_dropout_prob=self.hidden_dropout_prob,
            output_dropout_prob=self.output_dropout_prob,
            sketch_embed_type=self.sketch_embed_type,
            attention_norm_type=self.attention_norm_type)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "max_length" in config:  # `.keras` files saved before `num_positions` (issue 11)
            config["num_positions"] = config.pop("max_length")
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchBertModel(keras.Model):
    """Encoder + task heads, run on a batch dict.

    Args:
        encoder: a `SketchBertEncoder`.
        heads: dict task name → head layer (see `bert_tf2.heads`).

    Call args:
        inputs: dict with `mask_input` `[B, S, D]` and `length_mask` `[B, S]` (optionally
            `segment` `[B, S]`), or the same with a leading triplet-member axis
            (`[M, B, S, D]`, `[M, B, S]`; anchor, positive, negative). Members are run as one
            batch of `M * B` sketches.
        training: enables dropout.

    Returns:
        dict task → head output (`[B, ...]`, or `[M, B, ...]` with a member axis).
    """

    def __init__(self, encoder, heads, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.heads = dict(heads)

    def build(self, input_shape=None):
        for layer in [self.encoder, *self.heads.values()]:
            if not layer.built:
                layer.build((None, None, self.encoder.hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        mask_input = ops.convert_to_tensor(inputs["mask_input"])
        length_mask = ops.convert_to_tensor(inputs["length_mask"])
        segments = inputs.get("segment")
        leading = None
        if len(mask_input.shape) == 4:
            leading = tuple(mask_input.shape[:2])
            mask_input = ops.reshape(mask_input, (-1,) + tuple(mask_input.shape[2:]))
            length_mask = ops.reshape(length_mask, (-1,) + tuple(length_mask.shape[2:]))
            if segments is not None:
                segments = ops.reshape(segments, (-1,) + tuple(segments.shape[2:]))
        hidden_states = self.encoder(mask_input, length_mask, segments=segments,
                                     training=training)
        outputs = {}
        for task, head in self.heads.items():
            output = head(hidden_states)
            if leading is not None:
                output = ops.reshape(output, leading + tuple(output.shape[1:]))
            outputs[task] = output
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            heads={task: keras.saving.serialize_keras_object(head)
                   for task, head in self.heads.items()})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        heads = {task: keras.saving.deserialize_keras_object(head)
                 for task, head in config.pop("heads").items()}
        return cls(encoder, heads, **config)


def encoder_arguments(config):
    """The `SketchBertEncoder` arguments for a config (the original `netE_kwargs`, ported).

    Args:
        config: a `bert_tf2.config.Config` or a mapping with the original YAML keys.

    Returns:
        dict of keyword arguments; `num_positions` = the YAML `max_length` (sketch rows L) plus
        the special-token rows of `task_types`.
    """
    return dict(
        model_type=config["model_type"],
        layers_setting=[list(entry) for entry in config["layers_setting"]],
        embed_layers_setting=list(config["embed_layers_setting"]),
        input_dim=config["input_dim"],
        num_positions=config["max_length"] + num_prefix_tokens(config["task_types"]),
        position_type=config["position_type"],
        segment_type=config["segment_type"],
        inter_activation=config["inter_activation"],
        attention_dropout_prob=config["attention_dropout_prob"],
        hidden_dropout_prob=config["hidden_dropout_prob"],
        output_dropout_prob=config["output_dropout_prob"],
        sketch_embed_type=config["sketch_embed_type"],
        attention_norm_type=config["attention_norm_type"],
    )


def build_encoder(config):
    """A built `SketchBertEncoder` for `config` (freshly initialised, PyTorch-style init)."""
    encoder = SketchBertEncoder(**encoder_arguments(config), name="netE")
    encoder.build()
    return encoder


def build_model(config):
    """A built `SketchBertModel` (encoder + one head per task of `config.task_types`)."""
    encoder = build_encoder(config)
    model = SketchBertModel(encoder, build_heads(config, encoder.hidden_dim),
                            name="sketch_bert")
    model.build()
    return model
