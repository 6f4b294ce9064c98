"""`sketch_common.jit_compile`: Keras' "auto" rule for XLA."""

import collections

import pytest
import tensorflow as tf

from sketch_common.jit_compile import resolve_jit_compile

Device = collections.namedtuple("Device", "name device_type")


@pytest.mark.parametrize("devices, expected", [
    ([Device("/physical_device:CPU:0", "CPU")], False),
    ([Device("/physical_device:CPU:0", "CPU"), Device("/physical_device:GPU:0", "GPU")], True),
])
def test_auto_uses_xla_only_with_an_accelerator(monkeypatch, devices, expected):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda *args: devices)
    assert resolve_jit_compile("auto") is expected
    assert resolve_jit_compile(True) is True and resolve_jit_compile(False) is False


def test_other_settings_are_refused():
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto', not 1"):
        resolve_jit_compile(1)
