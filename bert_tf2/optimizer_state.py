"""The trainer's Adam state in a checkpoint directory (`optimizer.npz`), by original names.

`optimizer.npz` holds `iterations` and, for every weight, `momentum:<state>/<key>` and
`velocity:<state>/<key>` where `<state>/<key>` is the original state-dict name of the weight
(`netE_state/encoder.sketch_layer.attention...`, see `bert_tf2.state_dicts`), so the file does
not depend on Keras variable paths. The Adam slots are reached through Keras' private optimizer
attributes (`_get_variable_index`, `_momentums`, `_velocities`); this module is the only place
that does so.
"""

import os
import zipfile

import numpy as np
from absl import logging

from bert_tf2.errors import BertCheckpointError
from bert_tf2.state_dicts import ENCODER_STATE, model_parameters

OPTIMIZER_FILE = "optimizer.npz"


def optimizer_slots(model, optimizer) -> dict:
    """`{'<state>/<key>': (momentum variable, velocity variable)}` by original names.

    Args:
        model: a `SketchBertModel`.
        optimizer: its built Adam-style optimizer (`TorchAdam`).
    """
    slots = {}
    for state, table in model_parameters(model).items():
        for key, parameter in table.items():
            index = optimizer._get_variable_index(parameter.variable)
            slots[f"{state}/{key}"] = (optimizer._momentums[index],
                                       optimizer._velocities[index])
    return slots


def optimizer_arrays(model, optimizer) -> dict:
    """The arrays `optimizer.npz` holds (a snapshot of the current state)."""
    arrays = {"iterations": np.asarray(int(optimizer.iterations.numpy()))}
    for name, (momentum, velocity) in optimizer_slots(model, optimizer).items():
        arrays[f"momentum:{name}"] = momentum.numpy()
        arrays[f"velocity:{name}"] = velocity.numpy()
    return arrays


def write_arrays(path: str, arrays: dict) -> None:
    """Writes `arrays` as `.npz` to `path` (inside a checkpoint's staging folder)."""
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def restore_optimizer_state(directory: str, model, optimizer, which) -> bool:
    """Assigns the Adam state of checkpoint `directory` to `optimizer`.

    Args:
        directory: a native checkpoint directory.
        which: selectors among `enc_opt` (encoder moments) and `task_opt` (head moments).

    Returns:
        False when the directory has no `optimizer.npz` (a converted checkpoint; logged), else
        True. Slots whose saved shape differs from the model's are skipped (logged).

    Raises:
        BertCheckpointError: an unreadable or damaged `optimizer.npz`.
    """
    path = os.path.join(directory, OPTIMIZER_FILE)
    if not os.path.isfile(path):
        logging.warning("%s: no %s (a converted or .pth.tar checkpoint); %s not restored, "
                        "Adam starts from zero state", directory, OPTIMIZER_FILE, which)
        return False
    try:
        with np.load(path, allow_pickle=False) as saved:
            _assign(saved, path, model, optimizer, which)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise BertCheckpointError(
            f"{path} cannot be read ({' '.join(str(error).split())}); the checkpoint "
            "is damaged: resume from another one (best/, iter_<t>/)") from error
    return True


def _assign(saved, path, model, optimizer, which):
    for name, (momentum, velocity) in optimizer_slots(model, optimizer).items():
        is_encoder = name.startswith(ENCODER_STATE + "/")
        if ("enc_opt" if is_encoder else "task_opt") not in which:
            continue
        if f"momentum:{name}" not in saved.files:
            continue
        if tuple(saved[f"momentum:{name}"].shape) != tuple(momentum.shape):
            logging.warning("%s: Adam state of %s has shape %s, model %s; not restored",
                            path, name, saved[f"momentum:{name}"].shape, tuple(momentum.shape))
            continue
        momentum.assign(saved[f"momentum:{name}"])
        velocity.assign(saved[f"velocity:{name}"])
    optimizer.iterations.assign(int(saved["iterations"]))
