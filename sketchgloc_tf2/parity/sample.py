"""Sampler parity: the port's greedy decoding against `sample_greedy.npz` of a reference bundle.

The file holds one group of arrays per latent code, keyed `<group>/<name>` (the shipped bundle
has `z0`, the code of a test sketch, and `z1`, a normal draw). For every group the check decodes
`<group>/z` greedily for `<group>/seq_len` steps without stopping at the end token (as the
reference recorded it), feeding back each emitted point, and compares every recorded array:
`initial_state`, the per-step mixture (`step_pi` ... `step_pen_logits`), the fed inputs
(`step_input_x`), the states (`step_state_out`), the emitted points (`strokes_5d`) and the
returned stroke-3 sketch (`strokes_3d`). `z`, `seq_len` and `temperature` are inputs.
Nothing here depends on the shipped bundle's sizes, cell types or group names.
"""

import os

import numpy as np
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import convert_tf1
from sketchgloc_tf2.sampling import Sampler
from sketchgloc_tf2.strokes import to_stroke3

SAMPLE_FILE = "sample_greedy.npz"
INPUT_ARRAYS = {
    "z": "an input of the sampler (the latent code)",
    "seq_len": "an input of the sampler (number of steps)",
    "temperature": "an input of the sampler (no effect in greedy mode)",
}


def _groups(keys):
    """`group/name` keys -> {group: [name, ...]} in file order."""
    groups = {}
    for key in keys:
        group, _, name = key.rpartition("/")
        groups.setdefault(group, []).append(name)
    return groups


def _produced(result):
    """Port arrays named like the reference's, for a batch of one code."""
    produced = {"initial_state": result.initial_state, "strokes_5d": result.strokes_5d[0],
                "strokes_3d": to_stroke3(result.strokes_5d[0])}
    for name, value in result.steps.items():
        produced["step_" + name] = value[:, 0]
    return produced


def check(bundle_dir, report):
    """Compares every array of `BUNDLE/sample_greedy.npz`; adds one row per array to `report`.

    Args:
        bundle_dir: a reference bundle folder (`ckpt/`, `model_config.json`, `sample_greedy.npz`).
        report: a `ParityReport`.
    """
    path = os.path.join(bundle_dir, SAMPLE_FILE)
    if not os.path.exists(path):
        report.skip(SAMPLE_FILE, (), f"no {SAMPLE_FILE} in {bundle_dir}")
        return
    hparams = hparams_lib.load_config(os.path.join(bundle_dir, "model_config.json")).eval_copy()
    folder = os.path.join(bundle_dir, "ckpt")
    prefix = tf.train.latest_checkpoint(folder) or os.path.join(folder, "model")
    model = convert_tf1(prefix, hparams)
    reference = np.load(path)
    samplers = {}
    for group, names in _groups(reference.files).items():
        key = f"{group}/" if group else ""
        steps = int(reference[key + "seq_len"])
        if steps not in samplers:
            samplers[steps] = Sampler(model, steps, greedy=True, stop_at_end=False)
        result = samplers[steps](reference[key + "z"], record_steps=True)
        produced = _produced(result)
        for name in names:
            expected = reference[key + name]
            if name in produced:
                report.compare(key + name, produced[name], expected)
            else:
                report.skip(key + name, expected.shape,
                            INPUT_ARRAYS.get(name, "the port does not produce this array"))
