"""Upstream's fully connected layer (`FcNet`) as a Keras `Dense` with its initialisers."""

import math

import keras


def fc_net(units, fan_in, name, activation=None):
    """A `Dense(units)` initialised as upstream `FcNet`: kernel N(0, 2 / fan_in), bias 0.

    Args:
        units: output width.
        fan_in: input width (sets the kernel's standard deviation).
        name: layer name (its TF1 scope in the converter's variable map).
        activation: optional Keras activation (upstream's `init_state` uses tanh).
    """
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / fan_in)),
        bias_initializer="zeros",
        name=name,
    )
