"""Affine layers initialised like PyTorch's `nn.Linear` (the original's only parameter init).

`nn.Linear` draws its weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The kernel part is
Keras' `VarianceScaling(1/3, "fan_in", "uniform")`; the bias needs the fan-in, which every caller
knows when it creates the layer.
"""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bert_tf2")
class TorchLinearBias(keras.initializers.Initializer):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default `nn.Linear` bias initialiser.

    Args:
        fan_in: input width of the affine layer the bias belongs to.
    """

    def __init__(self, fan_in):
        self.fan_in = fan_in

    def __call__(self, shape, dtype=None):
        bound = 1.0 / math.sqrt(self.fan_in)
        return keras.random.uniform(shape, minval=-bound, maxval=bound, dtype=dtype)

    def get_config(self):
        return {"fan_in": self.fan_in}


def torch_linear(units, fan_in, name):
    """A `Dense(units)` with PyTorch `nn.Linear` initialisation and no activation.

    Args:
        units: output width.
        fan_in: input width (used by the bias initialiser; the layer is built on `[..., fan_in]`).
        name: Keras layer name.

    Returns:
        An unbuilt `keras.layers.Dense`.
    """
    return keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.VarianceScaling(
            scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
        bias_initializer=TorchLinearBias(fan_in),
        name=name,
    )


def fused_linear(layer, inputs, activation=None):
    """`activation(inputs @ layer.kernel + layer.bias)` as one 2-D `MatMul`, `BiasAdd` and
    activation.

    TensorFlow's graph optimizer fuses exactly this op pattern into one oneDNN kernel (the exact
    GELU included), so the bias and the activation cost no extra pass over the output; Keras'
    `Dense` on `[B, S, I]` inputs runs a batched matmul, an add and the activation separately.
    Same weights and, up to float32 rounding, same results as
    `keras.activations.get(activation)(layer(inputs))` (docs/performance.md, second round).

    Args:
        layer: a built `keras.layers.Dense` (from `torch_linear`); call inside the owning layer's
            `call`, so its weights follow the dtype policy.
        inputs: `[..., I]`.
        activation: None or a Keras activation name (`'gelu'` is the exact, erf GELU).

    Returns:
        `[..., units]`.
    """
    inputs = tf.convert_to_tensor(inputs)
    kernel = tf.cast(layer.kernel, inputs.dtype)
    outputs = tf.nn.bias_add(tf.matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]), kernel),
                             tf.cast(layer.bias, inputs.dtype))
    if activation is not None:
        outputs = keras.activations.get(activation)(outputs)
    return tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [layer.units]], axis=0))
