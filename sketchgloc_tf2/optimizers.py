"""The optimizer of SketchGloc training: upstream's learning rate and Adam with per-variable
gradient clipping (docs/differences.md#sg-4, #sg-b4).

`make_optimizer(hparams)` builds what `training.Trainer` uses: `ClippedAdam` (TF1 defaults,
epsilon 1e-8; each variable's gradient clipped to norm `grad_clip` after the cross-replica sum)
on `UpstreamLearningRate` (constant as upstream, or decaying per step with `lr_decay`). Both are
registered under `sketchgloc_tf2` so that saved optimizer configurations load.
"""

import keras
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class UpstreamLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """`(learning_rate - min_learning_rate) · decay_rate^k + min_learning_rate`.

    Upstream's exponent k is a step variable initialised to 1 and never incremented, so the rate
    is constant (0.0009999901 with the defaults). With `decay=True`, k = 1 + optimizer step.

    Args:
        learning_rate: initial rate.
        min_learning_rate: floor.
        decay_rate: per-step decay base.
        decay: advance the exponent with the optimizer step.
    """

    def __init__(self, learning_rate, min_learning_rate, decay_rate, decay=False):
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.decay_rate = decay_rate
        self.decay = decay

    def __call__(self, step):
        exponent = 1.0 + tf.cast(step, tf.float32) if self.decay else tf.constant(1.0)
        span = self.learning_rate - self.min_learning_rate
        return span * tf.pow(tf.constant(self.decay_rate, tf.float32), exponent) + (
            self.min_learning_rate)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "decay_rate": self.decay_rate,
            "decay": self.decay,
        }


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class ClippedAdam(keras.optimizers.Adam):
    """Adam that clips each variable's gradient to norm `gradient_clip` on its own.

    As upstream's `tf.clip_by_norm` per gradient before `apply_gradients`, but applied in
    `update_step`, i.e. after the optimizer's cross-replica sum under a `tf.distribute` strategy
    (Keras' `clipnorm` clips each replica's partial gradient before the sum, which is not the
    clipped global gradient).

    Args:
        gradient_clip: maximum L2 norm of each variable's gradient.
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(self, gradient_clip, **kwargs):
        super().__init__(**kwargs)
        self.gradient_clip = gradient_clip

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(tf.clip_by_norm(gradient, self.gradient_clip), variable,
                            learning_rate)

    def get_config(self):
        config = super().get_config()
        config["gradient_clip"] = self.gradient_clip
        return config


def make_optimizer(hparams: hparams_lib.HParams) -> keras.optimizers.Optimizer:
    """Adam as upstream's `tf.train.AdamOptimizer` (epsilon 1e-8) on the upstream rate, each
    gradient clipped to norm `grad_clip`."""
    schedule = UpstreamLearningRate(hparams.learning_rate, hparams.min_learning_rate,
                                    hparams.decay_rate, decay=hparams.lr_decay)
    return ClippedAdam(hparams.grad_clip, learning_rate=schedule, beta_1=0.9, beta_2=0.999,
                       epsilon=1e-8)
