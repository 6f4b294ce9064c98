"""Multi-head self-attention with the original's additive -10000 key mask."""

import math

import keras
from keras import ops

from bert_tf2.errors import BertConfigError
from bert_tf2.layers.dropout import HashedDropout
from bert_tf2.layers.linear import torch_linear

MASK_VALUE = -10000.0


def attention_bias(attention_mask):
    """Turns a 1 = attend / 0 = ignore mask into the additive bias the attention adds to scores.

    Args:
        attention_mask: `[B, S]` (a key mask, shared by every query) or `[B, S, S]`
            (query × key); float or bool.

    Returns:
        float32 `[B, 1, 1, S]` or `[B, 1, S, S]`: `(1 - mask) * -10000` (exactly the original's
        constant; padded keys keep a tiny probability and padded queries are still computed).
    """
    mask = ops.cast(attention_mask, "float32")
    if len(mask.shape) == 2:
        mask = mask[:, None, None, :]
    else:
        mask = mask[:, None, :, :]
    return (1.0 - mask) * MASK_VALUE


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `num_heads` contiguous feature chunks.

    Head `h` uses features `h * d ... (h + 1) * d - 1` of the query/key/value projections
    (`d = hidden_dim / num_heads`); scores are divided by `sqrt(d)`, the additive bias is added,
    softmax runs over keys (in float32 whatever the compute dtype) and dropout is applied to the
    probabilities.

    Args:
        num_heads: number of heads `A`; must divide `hidden_dim`.
        hidden_dim: model width `H`.
        attention_dropout_prob: dropout rate on the attention probabilities.

    Call args:
        hidden_states: `[B, S, H]`.
        bias: additive bias from `attention_bias`, `[B, 1, 1, S]` or `[B, 1, S, S]`.
        training: enables dropout.

    Returns:
        `(context [B, S, H], probabilities [B, A, S, S])`; the probabilities are those
        multiplied with the values, i.e. after dropout, as in the original.
    """

    def __init__(self, num_heads, hidden_dim, attention_dropout_prob=0.0, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise BertConfigError(
                f"hidden size {hidden_dim} is not a multiple of the number of heads {num_heads}; "
                "fix layers_setting ([num_heads, hidden_dim, intermediate_dim] per layer)")
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.attention_dropout_prob = attention_dropout_prob
        self.head_dim = hidden_dim // num_heads
        self.query = torch_linear(hidden_dim, hidden_dim, name="query")
        self.key = torch_linear(hidden_dim, hidden_dim, name="key")
        self.value = torch_linear(hidden_dim, hidden_dim, name="value")
        self.dropout = HashedDropout(attention_dropout_prob)

    def build(self, input_shape):
        for projection in (self.query, self.key, self.value):
            projection.build(input_shape)

    def _split_heads(self, states):
        batch, length = ops.shape(states)[0], ops.shape(states)[1]
        states = ops.reshape(states, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(states, (0, 2, 1, 3))

    def call(self, hidden_states, bias, training=None):
        query = self._split_heads(self.query(hidden_states))
        key = self._split_heads(self.key(hidden_states))
        value = self._split_heads(self.value(hidden_states))
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        scores = ops.cast(scores, "float32") / math.sqrt(self.head_dim) + ops.cast(bias, "float32")
        probabilities = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        probabilities = self.dropout(probabilities, training=training)
        context = ops.transpose(ops.matmul(probabilities, value), (0, 2, 1, 3))
        batch, length = ops.shape(context)[0], ops.shape(context)[1]
        return ops.reshape(context, (batch, length, self.hidden_dim)), probabilities

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, hidden_dim=self.hidden_dim,
                      attention_dropout_prob=self.attention_dropout_prob)
        return config
