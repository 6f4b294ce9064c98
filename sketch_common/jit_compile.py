"""Whether a compiled step should use XLA: `True`, `False` or `"auto"` as in Keras' `compile`.

`"auto"` follows Keras' own rule for the TensorFlow backend: XLA when an accelerator (GPU or
TPU) is visible, not on a CPU-only machine. Measured on the 2-core reference VM for Sketch-BERT
(docs/performance.md): TensorFlow's oneDNN kernels without XLA ran the published configuration's
training step about 10 % faster than XLA and compiled it in half the time, and were as fast at
the small configurations.
"""

# What a `jit_compile` setting may be (Sketch-BERT's config key of that name checks against it).
SETTINGS = ("auto", True, False)


def resolve_jit_compile(setting) -> bool:
    """`setting` (`True`, `False` or `"auto"`) -> whether to pass `jit_compile=True`.

    Raises:
        ValueError: `setting` is none of the three.
    """
    if setting is True or setting is False:
        return setting
    if setting != "auto":
        raise ValueError(f"jit_compile must be True, False or 'auto', not {setting!r}")
    import tensorflow as tf  # here, so that config modules can read SETTINGS without TensorFlow

    return any(device.device_type != "CPU" for device in tf.config.list_physical_devices())
