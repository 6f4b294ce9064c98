"""Regrouping of node embeddings per sketch and the nine-relation GCN (docs/differences.md#sg-3-4,
#sg-3-5)."""

import math

import keras
import tensorflow as tf

from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE

NUM_RELATIONS = 9
BLOCK_ROWS = 512


def regroup_nodes(flat_embeddings, strokes_num, max_nodes):
    """Packs the flat node rows into per-sketch slots (upstream `reconstruct_batch`).

    Sketch b takes the `strokes_num[b]` consecutive rows starting at `sum(strokes_num[:b])`,
    followed by zero rows.

    Args:
        flat_embeddings: `[R, D]` node embeddings (R = B*N rows; padding rows never read).
        strokes_num: `[B]` int, nodes per sketch.
        max_nodes: N.

    Returns:
        `[B, N, D]`.
    """
    strokes_num = tf.cast(strokes_num, tf.int32)
    offsets = tf.cumsum(strokes_num, exclusive=True)
    slots = tf.range(max_nodes, dtype=tf.int32)[None, :]
    valid = slots < strokes_num[:, None]
    rows = tf.shape(flat_embeddings)[0]
    index = tf.clip_by_value(offsets[:, None] + slots, 0, rows - 1)
    gathered = tf.gather(flat_embeddings, index)
    return gathered * tf.cast(valid, flat_embeddings.dtype)[:, :, None]


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class RelationGCN(keras.layers.Layer):
    """One-hop GCN over nine relation graphs with a per-relation two-layer ReLU MLP.

    For relation c (adjacency `A_c = box[..., c]`): `H0_c = A_c E`,
    `H2_c = relu(relu(H0_c W1[c]) W2[c])`; node output `(sum_c H0_c + sum_c H2_c) / 2`;
    graph readout = sum over the N node slots.

    Args:
        units: D = 2He, width of the node embeddings.
        seed: seed of the N(0, 2/D) weight initialisers.
    """

    def __init__(self, units, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.seed = seed

    def build(self, input_shape=None):
        stddev = math.sqrt(2.0 / self.units)
        shape = (NUM_RELATIONS, self.units, self.units)
        self.gcn_weight_1 = self.add_weight(
            name="gcn_weight_1", shape=shape,
            initializer=keras.initializers.RandomNormal(stddev=stddev, seed=self.seed))
        self.gcn_weight_2 = self.add_weight(
            name="gcn_weight_2", shape=shape,
            initializer=keras.initializers.RandomNormal(
                stddev=stddev, seed=None if self.seed is None else self.seed + 1))
        self.built = True

    def call(self, flat_embeddings, strokes_num, box):
        """Runs regrouping, GCN and readout.

        Args:
            flat_embeddings: `[B*N, D]` node embeddings (`enc_last_h`).
            strokes_num: `[B]` int, nodes per sketch.
            box: `[B, N, N, 9]` 0/1 relation of node j (axis 2) to node i (axis 1).

        Returns:
            Dict: `embed [B, N, D]`, `gcn_out0_sum [B*N, D]` (sum over relations of `A_c E`),
            `gcn_out2_sum [B*N, D]` (sum over relations of the MLP output), `gcn_out [B, D]`
            (graph readout, input of the batch norm).
        """
        box = tf.convert_to_tensor(box, dtype=self.compute_dtype)
        max_nodes = box.shape[1] if box.shape[1] is not None else tf.shape(box)[1]
        embed = regroup_nodes(flat_embeddings, strokes_num, max_nodes)
        aggregated = tf.reshape(tf.einsum("bijc,bjd->cbid", box, embed),
                                [NUM_RELATIONS, -1, self.units])
        connected = tf.reshape(tf.reduce_any(tf.not_equal(box, 0.0), axis=[2, 3]), [-1])
        out0_sum = tf.reduce_sum(aggregated, axis=0)
        out2_sum = self._transform_connected(aggregated, connected)
        gcn_out = tf.reduce_sum(
            tf.reshape((out0_sum + out2_sum) / 2.0, [-1, max_nodes, self.units]), axis=1)
        return {
            "embed": embed,
            "gcn_out0_sum": out0_sum,
            "gcn_out2_sum": out2_sum,
            "gcn_out": gcn_out,
        }

    def _relation_mlp(self, aggregated):
        """`[9, M, D]` -> `[M, D]`: sum over relations of `relu(relu(A_c E W1[c]) W2[c])`."""
        hidden = tf.nn.relu(tf.matmul(aggregated, self.gcn_weight_1))
        return tf.reduce_sum(tf.nn.relu(tf.matmul(hidden, self.gcn_weight_2)), axis=0)

    def _transform_connected(self, aggregated, connected):
        """The relation MLP on the node slots that have a neighbour in some relation.

        A slot whose box row is zero in every relation aggregates zeros, and the bias-free
        ReLU MLP maps zeros to zeros, so only connected slots (real nodes) are transformed:
        they are gathered, `BLOCK_ROWS` at a time, in a loop that runs only as many blocks as
        there are connected slots, and their results scattered back. Exact; padding slots
        cost nothing (shapes stay static for XLA).

        Args:
            aggregated: `[9, R, D]` per-relation aggregates of the R = B*N node slots.
            connected: `[R]` bool, slots with a non-zero box row.

        Returns:
            `[R, D]`, the sum over relations of the MLP outputs.
        """
        rows = aggregated.shape[1]
        if rows is None or rows <= BLOCK_ROWS:
            return self._relation_mlp(aggregated)
        block = BLOCK_ROWS
        num_blocks = -(-rows // block)
        order = tf.argsort(tf.cast(connected, tf.int32), direction="DESCENDING", stable=True)
        slots = tf.reshape(tf.pad(order, [[0, num_blocks * block - rows]], constant_values=rows),
                           [num_blocks, block])
        padded = tf.pad(aggregated, [[0, 0], [0, 1], [0, 0]])
        active_blocks = -(-tf.math.count_nonzero(connected, dtype=tf.int32) // block)

        def body(index, result):
            block_slots = slots[index]
            transformed = self._relation_mlp(tf.gather(padded, block_slots, axis=1))
            return index + 1, tf.tensor_scatter_nd_add(result, block_slots[:, None], transformed)

        _, result = tf.while_loop(
            lambda index, _: index < active_blocks, body,
            (tf.constant(0), tf.zeros([rows + 1, self.units], aggregated.dtype)),
            maximum_iterations=num_blocks)
        return result[:rows]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, seed=self.seed)
        return config
