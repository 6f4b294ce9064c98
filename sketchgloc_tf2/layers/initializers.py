"""Weight initialisers of SketchGloc's layers (upstream's `lstm_ortho_initializer`)."""

import keras
import numpy as np
import tensorflow as tf

from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class BlockOrthogonal(keras.initializers.Initializer):
    """Side-by-side independent orthogonal blocks (upstream `lstm_ortho_initializer`).

    For a `[rows, num_blocks * cols]` matrix each `[rows, cols]` block is the matrix of left
    singular vectors of a `[rows, cols]` matrix of i.i.d. N(0, 1) draws (no sign fix). Without a
    seed the draws come from numpy's global generator, as upstream (`keras.utils.set_random_seed`
    makes them reproducible).

    Args:
        num_blocks: number of column blocks (4 for the four LSTM gates).
        seed: optional integer seed.
    """

    def __init__(self, num_blocks=4, seed=None):
        self.num_blocks = num_blocks
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows, total_cols = int(shape[0]), int(shape[1])
        if total_cols % self.num_blocks:
            raise ValueError(
                f"BlockOrthogonal: {total_cols} columns do not split into {self.num_blocks} blocks"
            )
        cols = total_cols // self.num_blocks
        rng = np.random if self.seed is None else np.random.RandomState(self.seed)
        blocks = []
        for _ in range(self.num_blocks):
            _, left, right = tf.linalg.svd(tf.constant(rng.normal(0.0, 1.0, (rows, cols))))
            blocks.append(left if tuple(left.shape) == (rows, cols) else tf.transpose(right))
        return tf.cast(tf.concat(blocks, axis=1), dtype or "float32")

    def get_config(self):
        return {"num_blocks": self.num_blocks, "seed": self.seed}
