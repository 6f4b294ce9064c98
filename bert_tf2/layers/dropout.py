"""Inverted dropout with a hashed mask, applied in one pass over the tensor.

Keras' `Dropout` draws its mask with TensorFlow's Philox generator and applies it in several
passes over the tensor (draw, compare, scale, select), and under XLA the stateless Philox draws
are far slower still. Here the keep decision of element `i` is a counter-based hash of
`(seed, i)` (`sketch_common.hashed_random`): outside XLA, drawing and applying the mask is one
XLA-compiled element-wise kernel and the backward pass redraws the mask in one more such kernel
instead of keeping it; inside an XLA compilation the same ops fuse with their neighbours. The
masks are not those of PyTorch's generator (no port can draw those); each element is kept with
probability `1 - rate` and kept values are divided by `1 - rate`, as `torch.nn.Dropout` does.
"""

import keras
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # no public API tells XLA contexts apart

from bert_tf2.errors import BertConfigError
from sketch_common.hashed_random import hashed_uniform


def _apply_mask(values, seed, rate):
    """`values` with the elements whose hashed draw is below `rate` zeroed, the rest scaled by
    `1 / (1 - rate)`; `seed` `[2]` int64 picks the mask, `rate` is a Python float."""
    keep = hashed_uniform(tf.shape(values), seed) >= rate
    scaled = values * tf.constant(1.0 / (1.0 - rate), values.dtype)
    return tf.where(keep, scaled, tf.zeros_like(values))


_apply_mask_in_one_pass = tf.function(_apply_mask, jit_compile=True)


def _inside_xla_compilation():
    """Whether the ops being built will be compiled by XLA (a `jit_compile=True` function)."""
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def hashed_dropout(values, rate, seed):
    """Inverted dropout of `values` (any shape and float dtype) with the mask picked by `seed`.

    Outside XLA the mask is drawn and applied by one XLA-compiled kernel, and the gradient
    redraws it in another. Inside an XLA compilation the plain ops are left to it: it fuses them
    with their neighbours and keeps a one-byte mask for the gradient (a nested compiled function
    with a hand-written gradient measured 2 GB more resident memory there). Both give the same
    mask for the same seed.

    Args:
        values: tensor to drop elements of.
        rate: probability of dropping an element, in [0, 1).
        seed: `[2]` int64 tensor; the same seed gives the same mask for the same shape.

    Returns:
        A tensor like `values`. Its gradient applies the same mask and scale to the upstream
        gradient.
    """
    if _inside_xla_compilation():
        return _apply_mask(values, seed, rate)

    @tf.custom_gradient
    def dropped(values):
        def gradient(upstream):
            return _apply_mask_in_one_pass(upstream, seed, rate)

        return _apply_mask_in_one_pass(values, seed, rate), gradient

    return dropped(values)


@keras.saving.register_keras_serializable(package="bert_tf2")
class HashedDropout(keras.layers.Layer):
    """Drop-in for `keras.layers.Dropout(rate)`: each training call draws a fresh mask.

    Args:
        rate: probability of dropping an element (a drop rate, as `torch.nn.Dropout`), in
            [0, 1).
        seed: seed of the layer's `SeedGenerator` (None: drawn from Keras' global seed, which
            `keras.utils.set_random_seed` fixes).

    Call args:
        inputs: a tensor of any shape.
        training: applies dropout when true; otherwise the inputs are returned unchanged.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise BertConfigError(f"dropout rate {rate} is outside [0, 1); it is the probability "
                                  "of dropping an element")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        """No weights: the only state is the seed generator, made in the constructor."""
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        return hashed_dropout(inputs, self.rate, self.seed_generator.next())

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
