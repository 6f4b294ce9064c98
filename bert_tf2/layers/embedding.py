"""Sketch-BERT input embedding: linear point embedding, position/segment tables, refine stack.

The original embeds every input row (a stroke-5 point or a constant special-token row of -1 / -2)
with one affine map to width `E = embed_layers_setting[0]`, adds a position row (learned table or
a non-standard sinusoid) and optionally a learned segment row, then widens the result to the
transformer width `H` through the "refine" stack of affine maps `embed_layers_setting + [H]`,
with no activation, normalisation or dropout anywhere on this path.
"""

import keras
import numpy as np
from keras import ops

from bert_tf2.errors import BertConfigError
from bert_tf2.layers.linear import torch_linear

POSITION_TYPES = ("learn", "sin", "none")


def sinusoid_position_table(num_positions, width):
    """The original's sinusoid table (not the usual Transformer formula).

    Column `j` of position `p` is `sin(p / ((j + 1) / 2))` for even `j` and `cos(p / (j / 2))` for
    odd `j`, computed in float32 as the original does.

    Args:
        num_positions: number of rows.
        width: number of columns `E`.

    Returns:
        float32 array `[num_positions, width]`.
    """
    positions = np.arange(num_positions, dtype=np.float32)[:, None]
    columns = np.arange(width, dtype=np.float32) + np.float32(1.0)
    table = np.zeros((num_positions, width), dtype=np.float32)
    table[:, 0::2] = np.sin(positions / (columns[0::2] / np.float32(2.0)))
    table[:, 1::2] = np.cos(positions / ((columns[1::2] - np.float32(1.0)) / np.float32(2.0)))
    return table


@keras.saving.register_keras_serializable(package="bert_tf2")
class PositionEmbedding(keras.layers.Layer):
    """Adds row `t` of a position table to sequence position `t` (`t = 0..S-1`).

    Args:
        num_positions: table rows; the sequence length including special tokens must not exceed
            it.
        width: embedding width `E`.
        position_type: `'learn'` (trainable table, N(0, 1) init as `nn.Embedding`) or `'sin'`
            (constant `sinusoid_position_table`).

    Call args:
        embeddings: `[B, S, E]`.

    Returns:
        `[B, S, E]`.
    """

    def __init__(self, num_positions, width, position_type="learn", **kwargs):
        super().__init__(**kwargs)
        if position_type not in ("learn", "sin"):
            raise BertConfigError(
                f"position_type {position_type!r} has no table; use 'learn' or 'sin' "
                "('none' means: do not create a PositionEmbedding)")
        self.num_positions = num_positions
        self.width = width
        self.position_type = position_type

    def build(self, input_shape):
        if self.position_type == "learn":
            self.table = self.add_weight(
                name="embeddings", shape=(self.num_positions, self.width),
                initializer=keras.initializers.RandomNormal(0.0, 1.0))
        else:
            self.table = ops.convert_to_tensor(
                sinusoid_position_table(self.num_positions, self.width))

    def call(self, embeddings):
        length = ops.shape(embeddings)[1]
        return embeddings + ops.cast(self.table[None, :length, :], embeddings.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(num_positions=self.num_positions, width=self.width,
                      position_type=self.position_type)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class SegmentEmbedding(keras.layers.Layer):
    """Adds a learned row per segment id (0 = special token, 1 = padding, k >= 2 = stroke k-2).

    Args:
        num_segments: table rows (the original uses the position-table size).
        width: embedding width `E`.

    Call args:
        embeddings: `[B, S, E]`.
        segments: `[B, S]` integer segment ids.

    Returns:
        `[B, S, E]`.
    """

    def __init__(self, num_segments, width, **kwargs):
        super().__init__(**kwargs)
        self.num_segments = num_segments
        self.width = width

    def build(self, input_shape):
        self.table = self.add_weight(
            name="embeddings", shape=(self.num_segments, self.width),
            initializer=keras.initializers.RandomNormal(0.0, 1.0))

    def call(self, embeddings, segments):
        rows = ops.take(self.table, ops.cast(segments, "int32"), axis=0)
        return embeddings + ops.cast(rows, embeddings.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(num_segments=self.num_segments, width=self.width)
        return config


@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchEmbedding(keras.layers.Layer):
    """Linear point embedding + position (+ segment) embedding + affine refine stack.

    Args:
        input_dim: width of an input row (5 for stroke-5).
        embed_layers_setting: `[E, ...]`; `E` is the point-embedding width and the whole list
            followed by `hidden_dim` gives the refine stack widths.
        hidden_dim: transformer width `H`.
        num_positions: position-table rows `T + L` (special-token rows plus the YAML
            `max_length` L of sketch rows).
        position_type: `'learn'`, `'sin'` or `'none'`.
        segment_type: `'learn'` adds a learned segment table; anything else disables it.

    Call args:
        input_states: `[B, S, input_dim]` float.
        segments: optional `[B, S]` integer segment ids (used only with `segment_type 'learn'`).

    Returns:
        A tuple `(point_embedding [B, S, E], summed_embedding [B, S, E],
        refined_embedding [B, S, H])`.
    """

    def __init__(self, input_dim, embed_layers_setting, hidden_dim, num_positions,
                 position_type="learn", segment_type="none", **kwargs):
        if position_type not in POSITION_TYPES:
            raise BertConfigError(
                f"position_type {position_type!r} is not supported; use one of {POSITION_TYPES}")
        super().__init__(**kwargs)
        # === Layers ===
        width = embed_layers_setting[0]
        self.point_embedding = torch_linear(width, input_dim, name="embedding")
        self.position_embedding = (
            None if position_type == "none"
            else PositionEmbedding(num_positions, width, position_type, name="pos_embedding"))
        self.segment_embedding = (
            SegmentEmbedding(num_positions, width, name="segment_embedding")
            if segment_type == "learn" else None)
        widths = list(embed_layers_setting) + [hidden_dim]
        self.refine_layers = [
            torch_linear(units, fan_in, name=f"embed_refine_net_{index}")
            for index, (fan_in, units) in enumerate(zip(widths[:-1], widths[1:]))]

        # === Config ===
        self.input_dim = input_dim
        self.embed_layers_setting = list(embed_layers_setting)
        self.hidden_dim = hidden_dim
        self.num_positions = num_positions
        self.position_type = position_type
        self.segment_type = segment_type

    def build(self, input_shape):
        batch_and_length = tuple(input_shape[:-1])
        self.point_embedding.build(batch_and_length + (self.input_dim,))
        width = self.embed_layers_setting[0]
        if self.position_embedding is not None:
            self.position_embedding.build(batch_and_length + (width,))
        if self.segment_embedding is not None:
            self.segment_embedding.build(batch_and_length + (width,))
        for layer, fan_in in zip(self.refine_layers, self.embed_layers_setting):
            layer.build(batch_and_length + (fan_in,))

    def call(self, input_states, segments=None):
        point_embedding = self.point_embedding(input_states)
        summed = point_embedding
        if self.position_embedding is not None:
            summed = self.position_embedding(summed)
        if self.segment_embedding is not None and segments is not None:
            summed = self.segment_embedding(summed, segments)
        refined = summed
        for layer in self.refine_layers:
            refined = layer(refined)
        return point_embedding, summed, refined

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim, embed_layers_setting=self.embed_layers_setting,
            hidden_dim=self.hidden_dim, num_positions=self.num_positions,
            position_type=self.position_type, segment_type=self.segment_type)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "max_length" in config:  # configs saved before `num_positions` (issue 11)
            config["num_positions"] = config.pop("max_length")
        return cls(**config)
