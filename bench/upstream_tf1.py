"""A TF1 name space for importing the original SketchGloc modules under TensorFlow 2.

The original code (https://github.com/CMACH508/SketchGloc, folder `rebranch/`) was written for
TensorFlow 1.15: it calls `tf.placeholder`, `tf.variable_scope`, `tf.train.AdamOptimizer`, ...
and a few `tf.contrib` symbols. `import_upstream_modules` imports its modules so that their
`import tensorflow as tf` binds `TF1Namespace`: every attribute comes from `tf.compat.v1`,
except `tf.contrib`, which holds only the stand-ins below (written for this benchmark on top of
`tf.compat.v1`). A symbol the original graph needs and neither provides raises an
`AttributeError` naming it as `tf.<path>`.

Stand-ins (what SketchGloc's training graph uses):

* `tf.contrib.rnn.RNNCell`: base class of the original cells. They override `__call__`,
  `state_size` and `output_size` and never call the base `__init__`; `tf.nn.dynamic_rnn` only
  needs `zero_state` from the base (a zero `[batch, state_size]` tensor).
* `tf.contrib.layers.batch_norm`: TF1's batch norm for a rank-2 input, its fused path: the input
  is viewed as `[B, 1, 1, D]`, normalised by `tf.nn.fused_batch_norm` (batch statistics when
  training, the moving ones otherwise; epsilon raised to the kernel's minimum 1.001e-5); with
  `updates_collections=None` the moving averages are updated before the output is returned
  (`moving <- moving - (1 - decay) (moving - batch statistic)`, the variance Bessel-corrected).
  Variables `beta`, `gamma`, `moving_mean`, `moving_variance` in scope `BatchNorm`.

Nothing here changes TensorFlow for other code: the name space object is bound only inside the
imported modules; `sys.modules["tensorflow"]` is swapped only while they are imported.
"""

import contextlib
import importlib
import sys
import types

UPSTREAM_MODULES = ("rnn", "Cnn", "model")


class MissingSymbolError(AttributeError):
    """A TF1 symbol the original code uses that neither `tf.compat.v1` nor the stand-ins have."""


class _Namespace(types.SimpleNamespace):
    """A fixed set of attributes; any other attribute raises `MissingSymbolError` naming it."""

    def __init__(self, path, **members):
        super().__init__(**members)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise MissingSymbolError(
            f"{self._path}.{name} is used by the original code but has no stand-in in "
            f"bench/upstream_tf1.py")


def _zero_state(cell, batch_size, dtype):
    """`RNNCell.zero_state`: zeros of shape `[batch_size, cell.state_size]`."""
    import tensorflow as tf

    return tf.zeros(tf.stack([batch_size, cell.state_size]), dtype=dtype)


class RNNCell:
    """Stand-in for `tf.contrib.rnn.RNNCell` (see the module docstring)."""

    def zero_state(self, batch_size, dtype):
        """Zero initial state, `[batch_size, state_size]`, of `dtype`."""
        return _zero_state(self, batch_size, dtype)


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               updates_collections=None, is_training=True, scope=None, reuse=None):
    """Stand-in for `tf.contrib.layers.batch_norm` of a `[B, D]` input (module docstring).

    Args:
        inputs: float32 `[B, D]`.
        decay: moving-average decay.
        center, scale: learn `beta` / `gamma`.
        epsilon: variance epsilon (raised to 1.001e-5 by the fused kernel).
        updates_collections: must be None (the moving averages are updated in place).
        is_training: normalise with the batch statistics and update the moving ones.
        scope, reuse: variable scope (default `BatchNorm`) and its reuse.

    Returns:
        `[B, D]`, the normalised input.
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    if updates_collections is not None or inputs.shape.rank != 2:
        raise MissingSymbolError(
            "tf.contrib.layers.batch_norm is provided only for a rank-2 input with "
            "updates_collections=None")
    width = int(inputs.shape[-1])
    with v1.variable_scope(scope, "BatchNorm", [inputs], reuse=reuse):
        beta = (v1.get_variable("beta", [width], initializer=v1.zeros_initializer())
                if center else v1.zeros([width]))
        gamma = (v1.get_variable("gamma", [width], initializer=v1.ones_initializer())
                 if scale else v1.ones([width]))
        moving_mean = v1.get_variable("moving_mean", [width], trainable=False,
                                      initializer=v1.zeros_initializer())
        moving_variance = v1.get_variable("moving_variance", [width], trainable=False,
                                          initializer=v1.ones_initializer())
        as_image = v1.reshape(inputs, [-1, 1, 1, width])
        if not is_training:
            normalised, _, _ = v1.nn.fused_batch_norm(
                as_image, gamma, beta, mean=moving_mean, variance=moving_variance,
                epsilon=epsilon, is_training=False)
            return v1.reshape(normalised, v1.shape(inputs))
        normalised, batch_mean, batch_variance = v1.nn.fused_batch_norm(
            as_image, gamma, beta, epsilon=epsilon, is_training=True)
        updates = [
            v1.assign_sub(moving, (1.0 - decay) * (moving - statistic))
            for moving, statistic in ((moving_mean, batch_mean),
                                      (moving_variance, batch_variance))]
        with v1.control_dependencies(updates):
            return v1.reshape(normalised, v1.shape(inputs))


class TF1Namespace(types.ModuleType):
    """What `import tensorflow as tf` binds in the original modules (module docstring)."""

    def __init__(self, tensorflow):
        super().__init__("tensorflow")
        self.__path__ = list(getattr(tensorflow, "__path__", []))
        self._compat_v1 = tensorflow.compat.v1
        self.contrib = _Namespace(
            "tf.contrib",
            rnn=_Namespace("tf.contrib.rnn", RNNCell=RNNCell),
            layers=_Namespace("tf.contrib.layers", batch_norm=batch_norm))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self._compat_v1, name)
        except AttributeError:
            raise MissingSymbolError(
                f"tf.{name} is used by the original code but tf.compat.v1 has no such "
                f"symbol") from None


@contextlib.contextmanager
def _tensorflow_bound_to(namespace):
    """Makes `import tensorflow` return `namespace` inside the block."""
    real = sys.modules["tensorflow"]
    sys.modules["tensorflow"] = namespace
    try:
        yield
    finally:
        sys.modules["tensorflow"] = real


def import_upstream_modules(code_dir):
    """Imports the original `rnn`, `Cnn` and `model` modules from `code_dir` under TF1 names.

    Call `tf.compat.v1.disable_v2_behavior()` first, as the original code ran in graph mode.

    Args:
        code_dir: the checkout's `rebranch` folder.

    Returns:
        The imported `model` module (its `Model(hps)` builds the training graph).
    """
    import tensorflow

    for name in UPSTREAM_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, code_dir)
    try:
        with _tensorflow_bound_to(TF1Namespace(tensorflow)):
            return importlib.import_module("model")
    finally:
        sys.path.remove(code_dir)
