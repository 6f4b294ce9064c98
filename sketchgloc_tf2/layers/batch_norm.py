"""Batch normalisation with the semantics of TF1's fused kernel (docs/differences.md#sg-3-6, TF1
scope `BatchNorm`)."""

import keras
import tensorflow as tf

from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE

FUSED_MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class FusedBatchNorm(keras.layers.Layer):
    """Batch norm over axis 0 of a `[B, D]` input, as `tf.contrib.layers.batch_norm` (fused) did.

    Training: normalise with the batch mean and the biased batch variance; update
    `moving_mean -= (1 - decay) (moving_mean - mean)` and
    `moving_variance -= (1 - decay) (moving_variance - var * B / (B - 1))` (the fused kernel feeds
    the Bessel-corrected variance into the average). Inference: use the moving statistics.
    Epsilon is raised to the fused kernel's floor 1.001e-5.

    Under a `tf.distribute` strategy with R > 1 replicas (in the replica context), the batch is
    the global batch of all replicas (sync batch norm): the mean is the all-reduced sum over the
    replicas' rows divided by the global B, the variance the all-reduced sum of squared
    deviations from it divided by B, and B is the global batch in the moving-variance update; so
    a mirrored step normalises and updates exactly as one device on the global batch would. Each
    replica writes the same values to its own copy of the moving statistics. With one replica the
    computation is the single-device one (`tf.nn.moments`), unchanged.

    Args:
        decay: moving-average decay (0.9 upstream).
        epsilon: requested epsilon (1e-5 upstream; max(epsilon, 1.001e-5) is used).
    """

    def __init__(self, decay=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.decay = decay
        self.epsilon = epsilon

    @property
    def effective_epsilon(self):
        return max(self.epsilon, FUSED_MIN_EPSILON)

    def build(self, input_shape):
        width = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(width,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(width,), initializer="zeros")
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(width,), initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(width,), initializer="ones", trainable=False)
        self.built = True

    def call(self, inputs, training=None):
        """`inputs [B, D]` -> `[B, D]`; updates the moving statistics when `training`."""
        if training:
            mean, variance, batch = self.batch_moments(inputs)
            unbiased = variance * batch / tf.maximum(batch - 1.0, 1.0)
            rate = 1.0 - self.decay
            self.moving_mean.assign(
                self.moving_mean - (self.moving_mean - tf.stop_gradient(mean)) * rate)
            self.moving_variance.assign(
                self.moving_variance - (self.moving_variance - tf.stop_gradient(unbiased)) * rate)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * tf.math.rsqrt(variance + self.effective_epsilon)
        return inputs * scale + (self.beta - mean * scale)

    def batch_moments(self, inputs):
        """Mean and biased variance over the (global) batch, and the batch size.

        Args:
            inputs: `[B_r, D]` rows of this replica.

        Returns:
            `(mean [D], variance [D], B)`: B is the global batch size (sum of the replicas' B_r)
            as a scalar of the input dtype.
        """
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            mean, variance = tf.nn.moments(inputs, axes=[0])
            return mean, variance, tf.cast(tf.shape(inputs)[0], inputs.dtype)
        rows = tf.cast(tf.shape(inputs)[0], inputs.dtype)
        total, batch = context.all_reduce(
            tf.distribute.ReduceOp.SUM, [tf.reduce_sum(inputs, axis=0), rows])
        mean = total / batch
        squares = tf.reduce_sum(tf.math.squared_difference(inputs, tf.stop_gradient(mean)), axis=0)
        variance = context.all_reduce(tf.distribute.ReduceOp.SUM, squares) / batch
        return mean, variance, batch

    def get_config(self):
        config = super().get_config()
        config.update(decay=self.decay, epsilon=self.epsilon)
        return config
