"""Affine layers initialised like PyTorch's `nn.Linear` (the original's only parameter init).

`nn.Linear` draws its weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The kernel part is
Keras' `VarianceScaling(1/3, "fan_in", "uniform")`; the bias needs the fan-in, which every caller
knows when it creates the layer.
"""

import math

import keras


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
