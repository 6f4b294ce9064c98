"""The native checkpoint format: a directory of `model_config.json` + `model.weights.h5`.

Training, `python -m sketchgloc_tf2.convert` and the tuner write it; every tool accepts it as
CHECKPOINT_DIR. This module owns the file names (`CONFIG_NAME`, `WEIGHTS_NAME`) and the reading
(`load_checkpoint_dir`) and writing (`save_checkpoint_dir`) of such a directory. Original TF1
checkpoints are read by `sketchgloc_tf2.convert` (which depends on this module, never the
reverse); `convert.load_any_checkpoint` accepts either kind.

A missing, unreadable or malformed `model_config.json` and a truncated, garbage or mismatched
`model.weights.h5` raise `SketchCheckpointError` (one line naming the file and what to do).
"""

import json
import os

import h5py

from sketch_common.atomic_io import atomic_path
from sketch_common.errors import one_line
from sketch_common.presets import PRESET_FILE, metadata_writer
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError
from sketchgloc_tf2.model import SketchGlocModel

CONFIG_NAME = "model_config.json"
WEIGHTS_NAME = "model.weights.h5"


def is_native_dir(path: str) -> bool:
    """Whether `path` is a folder holding a `model.weights.h5` entry (a native checkpoint)."""
    return os.path.isdir(path) and os.path.lexists(os.path.join(path, WEIGHTS_NAME))


def save_weights(model, path: str) -> None:
    """`model.save_weights(path)` through a temporary file and a rename (never half-written)."""
    with atomic_path(path) as temporary:
        model.save_weights(temporary)


def save_checkpoint_dir(model, hparams, directory: str, preset=None) -> None:
    """Writes `directory/model_config.json` and `directory/model.weights.h5` (atomically).

    Args:
        model: the `SketchGlocModel`.
        hparams: its `HParams` (with the computed sizes and scale factor).
        directory: created if needed.
        preset: optional metadata dict, written as `preset.json` (a preset directory).
    """
    os.makedirs(directory, exist_ok=True)
    hparams_lib.save_config(hparams, os.path.join(directory, CONFIG_NAME))
    save_weights(model, os.path.join(directory, WEIGHTS_NAME))
    if preset is not None:
        metadata_writer(preset)(os.path.join(directory, PRESET_FILE))


def load_model_config(path):
    """Reads a checkpoint's `model_config.json`.

    Args:
        path: the `model_config.json` file.

    Returns:
        `HParams`.

    Raises:
        SketchCheckpointError: the file is missing, unreadable, not UTF-8 JSON, not a JSON
            object, or holds a bad hparam value.
    """
    fix = (f"restore the {CONFIG_NAME} that training or `python -m sketchgloc_tf2.convert` "
           "wrote next to the weights")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        values = json.loads(text)
    except FileNotFoundError:
        raise SketchCheckpointError(f"{path}: missing; {fix}") from None
    except OSError as error:
        raise SketchCheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise SketchCheckpointError(f"{path}: not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as error:
        raise SketchCheckpointError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} "
                                    f"column {error.colno}); {fix}") from None
    except (ValueError, RecursionError) as error:
        raise SketchCheckpointError(f"{path}: not valid JSON ({one_line(error)}); {fix}") \
            from None
    if not isinstance(values, dict):
        raise SketchCheckpointError(f"{path}: expected a JSON object of hparams, got "
                                    f"{type(values).__name__}; {fix}")
    try:
        return hparams_lib.from_dict(values)
    except (SketchConfigError, TypeError, OverflowError) as error:
        raise SketchCheckpointError(f"{path}: bad hparams ({one_line(error)}); {fix}") \
            from None


def _check_weights_file(weights_path):
    """Reads every array of `model.weights.h5` once, so that a truncated or corrupted file is
    reported as such (and not as a mismatch with the config)."""

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]  # reading the values finds broken chunks and heaps

    if os.path.isdir(weights_path):
        raise SketchCheckpointError(
            f"{weights_path}: a folder, not a weights file; restore the file written by "
            "training or `python -m sketchgloc_tf2.convert`")
    try:
        with h5py.File(weights_path, "r") as weights:
            weights.visititems(read)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        raise SketchCheckpointError(
            f"{weights_path}: not a readable weights file, truncated or corrupted "
            f"({one_line(error)}); restore it from a copy or write it again (training, or "
            "`python -m sketchgloc_tf2.convert`)") from None


def load_checkpoint_dir(path):
    """Loads the model of a native checkpoint directory.

    Args:
        path: folder holding `model_config.json` and `model.weights.h5`.

    Returns:
        `(model, hparams)`.

    Raises:
        SketchCheckpointError: nothing at `path`; no `model.weights.h5` there; a missing,
            unreadable or malformed `model_config.json`; a truncated, corrupted or mismatched
            `model.weights.h5`. One line naming the file and what to do.
    """
    weights_path = os.path.join(path, WEIGHTS_NAME)
    if not os.path.exists(path):
        raise SketchCheckpointError(
            f"{path}: no such checkpoint directory; pass a folder with {CONFIG_NAME} and "
            f"{WEIGHTS_NAME} (or a TF1 checkpoint prefix)")
    if not is_native_dir(path):
        raise SketchCheckpointError(
            f"{path}: not a native checkpoint directory ({CONFIG_NAME} + {WEIGHTS_NAME}); "
            "convert a TF1 checkpoint with `python -m sketchgloc_tf2.convert`")
    hparams = load_model_config(os.path.join(path, CONFIG_NAME))
    _check_weights_file(weights_path)
    model = SketchGlocModel.from_hparams(hparams)
    try:
        model.load_weights(weights_path)
    except (ValueError, KeyError) as error:
        raise SketchCheckpointError(
            f"{weights_path}: weights do not match {os.path.join(path, CONFIG_NAME)} "
            f"({one_line(error)}); use the config written with these weights") from None
    return model, hparams
