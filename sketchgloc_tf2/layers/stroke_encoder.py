"""Bidirectional node (stroke) encoder of SketchGloc (docs/differences.md#sg-3-3, TF1 scope
`ENC1_RNN`).

Every row of `input_strokes [R, L, 2]` (R = B*N) holds the absolute points of one node, zero
padded after `input_stroke_len[r]` points. A forward and a backward cell read the valid points of
each row; the node embedding is `concat(h_fw_final, h_bw_final)`.
"""

import keras
import tensorflow as tf

from sketchgloc_tf2.layers.cells import make_cell
from sketchgloc_tf2.layers.recurrence import run_recurrences
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE


def reverse_valid_steps(sequences, lengths):
    """Reverses the first `lengths[r]` steps of every row, leaving the padding in place.

    Args:
        sequences: `[R, L, C]`.
        lengths: `[R]` int32 in [0, L].

    Returns:
        `[R, L, C]` where row r reads `x[len-1], ..., x[0], x[len], ..., x[L-1]`
        (as `tf.reverse_sequence`).
    """
    steps = tf.range(tf.shape(sequences)[1], dtype=lengths.dtype)[None, :]
    source = tf.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return tf.gather(sequences, source, batch_dims=1)


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class StrokeEncoder(keras.layers.Layer):
    """Bidirectional recurrent encoder over variable-length node rows.

    The forward state stops changing after `len` steps; the backward cell reads the first `len`
    points in reverse order; rows of length 0 keep the zero state (embedding 0). Lengths above L
    are clamped to L (the port's fix of upstream bug docs/differences.md#sg-b1, where a chunk of L+1
    points reported length L+1 and crashed the original on CPU).

    Most of the B*N rows are padding (length 0). Rows are therefore sorted by length (longest
    first) and encoded in chunks of `chunk_rows` rows: only chunks holding a non-empty row run,
    each for as many steps as its longest row, and (with more than one chunk) each chunk's
    activations are recomputed in the backward pass (`tf.recompute_grad`) instead of being kept
    for all chunks at once. The
    results are exactly those of running every row for all L steps; shapes stay static (XLA).

    Args:
        cell_type: 'lstm', 'layer_norm' or 'hyper' (`enc_model`).
        units: He, units of each direction (`enc_rnn_size`).
        use_recurrent_dropout: dropout on the cells' candidate when training.
        recurrent_dropout_prob: KEEP probability of that dropout.
        input_dim: coordinates per point (2).
        chunk_rows: rows encoded together (memory/speed trade-off only).
        seed: seed of the cells' initialisers and dropout.
    """

    def __init__(self, cell_type="lstm", units=512, use_recurrent_dropout=False,
                 recurrent_dropout_prob=0.9, input_dim=2, chunk_rows=32, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.cell_type = cell_type
        self.units = units
        self.use_recurrent_dropout = use_recurrent_dropout
        self.recurrent_dropout_prob = recurrent_dropout_prob
        self.input_dim = input_dim
        self.chunk_rows = chunk_rows
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

    def _encode_chunk(self, strokes, lengths, seeds, params):
        """Final fw/bw states of `[C, L, input_dim]` rows (lengths sorted, longest first).

        `params` holds the two cells' `parameters()` dicts.
        """
        cells = [self.forward_cell, self.backward_cell]
        sequences = [tf.transpose(sequence, [1, 0, 2])
                     for sequence in (strokes, reverse_valid_steps(strokes, lengths))]
        projections = []
        for cell, cell_params in zip(cells, params):
            kernel, bias = cell.input_projection(cell_params)
            offset = tf.zeros([strokes.shape[0], kernel.shape[1]], strokes.dtype)
            projections.append((kernel, offset if bias is None else offset + bias))
        initial = [cell.get_initial_state(strokes.shape[0])[0] for cell in cells]
        states, _ = run_recurrences(cells, sequences, initial, lengths=lengths,
                                    dropout_seeds=seeds, active_steps=lengths[0], params=params,
                                    input_projections=projections, input_gradients=False)
        return states

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
        strokes = tf.stop_gradient(tf.convert_to_tensor(strokes, dtype=self.compute_dtype))
        rows, max_len = strokes.shape[0], strokes.shape[1]
        if rows is None:
            rows = tf.shape(strokes)[0]
            chunk = self.chunk_rows
        else:
            chunk = min(self.chunk_rows, rows)
        if max_len is None:
            max_len = tf.shape(strokes)[1]
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, max_len)
        num_chunks = -(-rows // chunk)
        padding = num_chunks * chunk - rows
        order = tf.argsort(lengths, direction="DESCENDING", stable=True)
        sorted_strokes = tf.pad(tf.gather(strokes, order), [[0, padding], [0, 0], [0, 0]])
        sorted_lengths = tf.pad(tf.gather(lengths, order), [[0, padding]])
        chunk_strokes = tf.TensorArray(strokes.dtype, size=num_chunks).unstack(
            tf.reshape(sorted_strokes, [num_chunks, chunk, max_len, strokes.shape[2]]))
        chunk_lengths = tf.reshape(sorted_lengths, [num_chunks, chunk])
        active_chunks = -(-tf.math.count_nonzero(lengths, dtype=tf.int32) // chunk)
        cells = [self.forward_cell, self.backward_cell]
        seeds = [cell.dropout_seed(training) for cell in cells]
        params = [cell.parameters() for cell in cells]
        names = [sorted(cell_params) for cell_params in params]
        flat_params = [cell_params[name] for cell_params, cell_names in zip(params, names)
                       for name in cell_names]

        def chunk_seeds(index):
            offset = tf.stack([tf.cast(index, tf.int64) + 1, tf.constant(0, tf.int64)])
            return [None if seed is None else seed + offset for seed in seeds]

        def encode(index, chunk_rows, chunk_lens, *flat):
            split = len(names[0])
            chunk_params = [dict(zip(names[0], flat[:split])), dict(zip(names[1], flat[split:]))]
            return self._encode_chunk(chunk_rows, chunk_lens, chunk_seeds(index), chunk_params)

        single_chunk = isinstance(num_chunks, int) and num_chunks == 1

        def body(index, fw_states, bw_states):
            encode_chunk = lambda *args: encode(index, *args)  # noqa: E731
            if not single_chunk:
                encode_chunk = tf.recompute_grad(encode_chunk)
            state_fw, state_bw = encode_chunk(
                chunk_strokes.read(index), chunk_lengths[index], *flat_params)
            position = tf.reshape(index, [1, 1])
            return (index + 1,
                    tf.tensor_scatter_nd_update(fw_states, position, state_fw[None]),
                    tf.tensor_scatter_nd_update(bw_states, position, state_bw[None]))

        empty = [tf.zeros([num_chunks, chunk, cell.state_size], strokes.dtype) for cell in cells]
        _, fw_states, bw_states = tf.while_loop(
            lambda index, *_: index < active_chunks, body, (tf.constant(0), *empty),
            maximum_iterations=num_chunks)
        restore = tf.math.invert_permutation(order)
        state_fw, state_bw = (
            tf.gather(tf.reshape(states, [num_chunks * chunk, cell.state_size])[:rows], restore)
            for cell, states in zip(cells, (fw_states, bw_states)))
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
            chunk_rows=self.chunk_rows,
            seed=self.seed,
        )
        return config
