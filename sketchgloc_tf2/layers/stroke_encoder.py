"""Bidirectional node (stroke) encoder of SketchGloc (spec §3.3, TF1 scope `ENC1_RNN`).

Every row of `input_strokes [R, L, 2]` (R = B*N) holds the absolute points of one node, zero
padded after `input_stroke_len[r]` points. A forward and a backward cell read the valid points of
each row; the node embedding is `concat(h_fw_final, h_bw_final)`.
"""

import keras
import tensorflow as tf

from sketchgloc_tf2.layers.cells import SERIALIZATION_PACKAGE, make_cell, run_recurrences


def reverse_valid_steps(sequences, lengths):
    """Reverses the first `lengths[r]` steps of every row, leaving the padding in place.

    Args:
        sequences: `[R, L, C]`.
        lengths: `[R]` int32 in [0, L].

    Returns:
        `[R, L, C]` where row r reads `x[len-1], ..., x[0], x[len], ..., x[L-1]`
        (as `tf.reverse_sequence`).
    """
    steps = tf.range(sequences.shape[1], dtype=lengths.dtype)[None, :]
    source = tf.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return tf.gather(sequences, source, batch_dims=1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class StrokeEncoder(keras.layers.Layer):
    """Bidirectional recurrent encoder over variable-length node rows.

    The forward state stops changing after `len` steps; the backward cell reads the first `len`
    points in reverse order; rows of length 0 keep the zero state (embedding 0). Lengths above L
    are clamped to L (the port's fix of upstream bug B1, where a chunk of L+1 points reported
    length L+1 and crashed the original on CPU).

    Args:
        cell_type: 'lstm', 'layer_norm' or 'hyper' (`enc_model`).
        units: He, units of each direction (`enc_rnn_size`).
        use_recurrent_dropout: dropout on the cells' candidate when training.
        recurrent_dropout_prob: KEEP probability of that dropout.
        input_dim: coordinates per point (2).
        seed: seed of the cells' initialisers and dropout.
    """

    def __init__(self, cell_type="lstm", units=512, use_recurrent_dropout=False,
                 recurrent_dropout_prob=0.9, input_dim=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.cell_type = cell_type
        self.units = units
        self.use_recurrent_dropout = use_recurrent_dropout
        self.recurrent_dropout_prob = recurrent_dropout_prob
        self.input_dim = input_dim
        self.seed = seed
        cell_options = dict(
            use_recurrent_dropout=use_recurrent_dropout,
            recurrent_dropout_prob=recurrent_dropout_prob,
        )
        self.forward_cell = make_cell(
            cell_type, units, seed=seed, name="forward_cell", **cell_options)
        self.backward_cell = make_cell(
            cell_type, units, seed=None if seed is None else seed + 1, name="backward_cell",
            **cell_options)

    @property
    def output_size(self):
        """Width D = 2He of a node embedding."""
        return 2 * self.units

    def build(self, input_shape=None):
        self.forward_cell.build((None, self.input_dim))
        self.backward_cell.build((None, self.input_dim))
        self.built = True

    def call(self, strokes, lengths, training=None):
        """Encodes every node row.

        Args:
            strokes: `[R, L, input_dim]` float32, absolute point coordinates, zero padded.
            lengths: `[R]` int, valid points per row (0 for padding rows).
            training: enables recurrent dropout.

        Returns:
            Dict with `enc_last_state_fw`, `enc_last_state_bw` (`[R, state_size]`, the cells' state
            layouts) and `enc_last_h` (`[R, 2He]` = concat(h_fw, h_bw)).
        """
        strokes = tf.convert_to_tensor(strokes, dtype=self.compute_dtype)
        max_len = strokes.shape[1]
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, max_len)
        cells = [self.forward_cell, self.backward_cell]
        sequences = [strokes, reverse_valid_steps(strokes, lengths)]
        projected = [
            tf.transpose(cell.project_inputs(seq), [1, 0, 2]) for cell, seq in zip(cells, sequences)
        ]
        rows = strokes.shape[0] if strokes.shape[0] is not None else tf.shape(strokes)[0]
        initial = [cell.get_initial_state(rows)[0] for cell in cells]
        seeds = [cell.dropout_seed(training) for cell in cells]
        (state_fw, state_bw), _ = run_recurrences(
            cells, projected, initial, lengths=lengths, dropout_seeds=seeds)
        last_h = tf.concat(
            [self.forward_cell.output_from_state(state_fw),
             self.backward_cell.output_from_state(state_bw)], axis=1)
        return {
            "enc_last_state_fw": state_fw,
            "enc_last_state_bw": state_bw,
            "enc_last_h": last_h,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            cell_type=self.cell_type,
            units=self.units,
            use_recurrent_dropout=self.use_recurrent_dropout,
            recurrent_dropout_prob=self.recurrent_dropout_prob,
            input_dim=self.input_dim,
            seed=self.seed,
        )
        return config
