"""Regrouping of node embeddings per sketch and the nine-relation GCN (spec §3.4, §3.5)."""

import math

import keras
import tensorflow as tf

from sketchgloc_tf2.layers.cells import SERIALIZATION_PACKAGE

NUM_RELATIONS = 9


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
        aggregated = tf.einsum("bijc,bjd->cbid", box, embed)
        hidden = tf.nn.relu(tf.einsum("cbid,cde->cbie", aggregated, self.gcn_weight_1))
        transformed = tf.nn.relu(tf.einsum("cbid,cde->cbie", hidden, self.gcn_weight_2))
        out0_sum = tf.reduce_sum(aggregated, axis=0)
        out2_sum = tf.reduce_sum(transformed, axis=0)
        gcn_out = tf.reduce_sum((out0_sum + out2_sum) / 2.0, axis=1)
        return {
            "embed": embed,
            "gcn_out0_sum": tf.reshape(out0_sum, [-1, self.units]),
            "gcn_out2_sum": tf.reshape(out2_sum, [-1, self.units]),
            "gcn_out": gcn_out,
        }

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, seed=self.seed)
        return config
