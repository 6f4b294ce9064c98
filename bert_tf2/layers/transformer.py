"""Post-LayerNorm transformer layers and the ALBERT (shared) / BERT (independent) stacks."""

import keras

from bert_tf2.errors import BertConfigError
from bert_tf2.layers.attention import SketchSelfAttention
from bert_tf2.layers.dropout import HashedDropout
from bert_tf2.layers.linear import fused_linear, torch_linear

LAYER_NORM_EPSILON = 1e-5
MODEL_TYPES = ("albert", "bert")
ACTIVATIONS = ("gelu", "relu")


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchLayer(keras.layers.Layer):
    """One post-LN transformer layer (the original `SketchLayer`).

    `a = LN(x + Dropout(Dense_o(attention(x))))`, `i = act(Dense_1(a))`,
    `y = LN(a + Dropout(Dense_2(i)))`, LayerNorm epsilon 1e-5, `act` = exact (erf) GELU or ReLU.

    Args:
        num_heads: attention heads.
        hidden_dim: width `H`.
        intermediate_dim: feed-forward width `I`.
        attention_dropout_prob: dropout on attention probabilities.
        hidden_dropout_prob: dropout after the attention output projection.
        output_dropout_prob: dropout after the feed-forward output projection.
        inter_activation: `'gelu'` or `'relu'`.

    Call args:
        hidden_states: `[B, S, H]`.
        bias: additive attention bias (see `attention_bias`).
        training: enables dropout.

    Returns:
        `(output [B, S, H], attention_block_output [B, S, H], intermediate [B, S, I],
        attention_probabilities [B, A, S, S])`.
    """

    def __init__(self, num_heads, hidden_dim, intermediate_dim, attention_dropout_prob=0.0,
                 hidden_dropout_prob=0.0, output_dropout_prob=0.0, inter_activation="gelu",
                 **kwargs):
        super().__init__(**kwargs)
        if inter_activation not in ACTIVATIONS:
            raise BertConfigError(
                f"inter_activation {inter_activation!r} is not supported; use one of "
                f"{ACTIVATIONS}")
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.attention_dropout_prob = attention_dropout_prob
        self.hidden_dropout_prob = hidden_dropout_prob
        self.output_dropout_prob = output_dropout_prob
        self.inter_activation = inter_activation
        self.attention = SketchSelfAttention(
            num_heads, hidden_dim, attention_dropout_prob, name="attention")
        self.attention_output = torch_linear(hidden_dim, hidden_dim, name="attention_output")
        self.attention_dropout = HashedDropout(hidden_dropout_prob)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="attention_norm")
        self.intermediate = torch_linear(intermediate_dim, hidden_dim, name="intermediate")
        self.output_projection = torch_linear(
            hidden_dim, intermediate_dim, name="output_projection")
        self.output_dropout = HashedDropout(output_dropout_prob)
        self.output_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="output_norm")

    def build(self, input_shape):
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        self.attention.build(hidden_shape)
        self.attention_output.build(hidden_shape)
        self.attention_norm.build(hidden_shape)
        self.intermediate.build(hidden_shape)
        self.output_projection.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.output_norm.build(hidden_shape)

    def call(self, hidden_states, bias, training=None):
        context, probabilities = self.attention(hidden_states, bias, training=training)
        attended = self.attention_dropout(self.attention_output(context), training=training)
        attention_block_output = self.attention_norm(hidden_states + attended)
        intermediate = fused_linear(
            self.intermediate, attention_block_output, self.inter_activation)
        projected = self.output_dropout(self.output_projection(intermediate), training=training)
        output = self.output_norm(attention_block_output + projected)
        return output, attention_block_output, intermediate, probabilities

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads, hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            attention_dropout_prob=self.attention_dropout_prob,
            hidden_dropout_prob=self.hidden_dropout_prob,
            output_dropout_prob=self.output_dropout_prob,
            inter_activation=self.inter_activation)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchTransformerStack(keras.layers.Layer):
    """The encoder stack: ALBERT (one shared layer) or BERT (independent layers).

    Args:
        model_type: `'albert'`: a single `SketchLayer` built from `layers_setting[0]` and applied
            `len(layers_setting)` times (the other entries only count); `'bert'`: one layer per
            entry (entries may differ in heads and intermediate width, not in hidden width).
        layers_setting: list of `[num_heads, hidden_dim, intermediate_dim]`.
        attention_dropout_prob, hidden_dropout_prob, output_dropout_prob: see `SketchLayer`.
        inter_activation: `'gelu'` or `'relu'`.

    Call args:
        hidden_states: `[B, S, H]`.
        bias: additive attention bias.
        training: enables dropout.

    Returns:
        A dict of per-layer lists: `layer_outputs`, `attention_block_outputs`,
        `intermediates`, `attention_probabilities` (shapes as `SketchLayer`).
    """

    def __init__(self, model_type, layers_setting, attention_dropout_prob=0.0,
                 hidden_dropout_prob=0.0, output_dropout_prob=0.0, inter_activation="gelu",
                 **kwargs):
        super().__init__(**kwargs)
        if model_type not in MODEL_TYPES:
            raise BertConfigError(
                f"model_type {model_type!r} is not supported; use one of {MODEL_TYPES}")
        self.layers_setting = [list(entry) for entry in layers_setting]
        if not self.layers_setting:
            raise BertConfigError("layers_setting is empty; give at least one "
                                  "[num_heads, hidden_dim, intermediate_dim] entry")
        hidden_dims = {entry[1] for entry in self.layers_setting}
        if model_type == "bert" and len(hidden_dims) != 1:
            raise BertConfigError(
                f"layers_setting uses several hidden widths {sorted(hidden_dims)}; the residual "
                "connections need one hidden width for every layer")
        self.model_type = model_type
        self.attention_dropout_prob = attention_dropout_prob
        self.hidden_dropout_prob = hidden_dropout_prob
        self.output_dropout_prob = output_dropout_prob
        self.inter_activation = inter_activation
        self.hidden_dim = self.layers_setting[0][1]
        self.num_layers = len(self.layers_setting)
        settings = self.layers_setting[:1] if model_type == "albert" else self.layers_setting
        names = (["sketch_layer"] if model_type == "albert"
                 else [f"layers_{index}" for index in range(self.num_layers)])
        self.sketch_layers = [
            SketchLayer(heads, hidden, intermediate, attention_dropout_prob,
                        hidden_dropout_prob, output_dropout_prob, inter_activation, name=name)
            for (heads, hidden, intermediate), name in zip(settings, names)]

    def build(self, input_shape):
        for layer in self.sketch_layers:
            layer.build(input_shape)

    def layer_at(self, depth):
        """The `SketchLayer` applied at depth `depth` (the shared one for ALBERT)."""
        return self.sketch_layers[0 if self.model_type == "albert" else depth]

    def call(self, hidden_states, bias, training=None):
        results = {"layer_outputs": [], "attention_block_outputs": [], "intermediates": [],
                   "attention_probabilities": []}
        for depth in range(self.num_layers):
            hidden_states, block_output, intermediate, probabilities = self.layer_at(depth)(
                hidden_states, bias, training=training)
            results["layer_outputs"].append(hidden_states)
            results["attention_block_outputs"].append(block_output)
            results["intermediates"].append(intermediate)
            results["attention_probabilities"].append(probabilities)
        return results

    def get_config(self):
        config = super().get_config()
        config.update(
            model_type=self.model_type, layers_setting=self.layers_setting,
            attention_dropout_prob=self.attention_dropout_prob,
            hidden_dropout_prob=self.hidden_dropout_prob,
            output_dropout_prob=self.output_dropout_prob,
            inter_activation=self.inter_activation)
        return config
