"""Loading a CHECKPOINT_DIR: a native checkpoint directory, or an original TF1 checkpoint.

A native checkpoint directory (written by `python -m sketchgloc_tf2.convert` or by training) holds
`model_config.json` and `model.weights.h5`. For convenience an original TF1 checkpoint is accepted
too (a prefix such as `ckpt/vector-123`, or a folder with a TF `checkpoint` file); it is converted
in memory, with `model_config.json` taken from its folder or the folder above.

A missing, unreadable or malformed `model_config.json` and a truncated, garbage or mismatched
`model.weights.h5` raise `SketchCheckpointError` (one line naming the file and what to do).
"""

import json
import os

import h5py
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import CONFIG_NAME, WEIGHTS_NAME, convert_tf1
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError
from sketchgloc_tf2.model import SketchGlocModel


def _tf1_prefix(path):
    """The TF1 checkpoint prefix `path` designates, or None."""
    if os.path.isdir(path):
        return tf.train.latest_checkpoint(path)
    if os.path.exists(path + ".index"):
        return path
    return None


def _find_config(prefix):
    folder = os.path.dirname(os.path.abspath(prefix))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, CONFIG_NAME)
        if os.path.exists(path):
            return path
    raise SketchCheckpointError(
        f"{prefix}: TF1 checkpoint found but no {CONFIG_NAME} in {folder} or its parent; "
        f"convert it with `python -m sketchgloc_tf2.convert --config ...`."
    )


def _one_line(error) -> str:
    return " ".join(str(error).split())


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
        raise SketchCheckpointError(f"{path}: not valid JSON ({_one_line(error)}); {fix}") \
            from None
    if not isinstance(values, dict):
        raise SketchCheckpointError(f"{path}: expected a JSON object of hparams, got "
                                    f"{type(values).__name__}; {fix}")
    try:
        return hparams_lib.from_dict(values)
    except (SketchConfigError, TypeError, OverflowError) as error:
        raise SketchCheckpointError(f"{path}: bad hparams ({_one_line(error)}); {fix}") \
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
            f"({_one_line(error)}); restore it from a copy or write it again (training, or "
            "`python -m sketchgloc_tf2.convert`)") from None


def load_checkpoint_dir(path):
    """Loads a model from a CHECKPOINT_DIR.

    Args:
        path: native checkpoint directory, TF1 checkpoint prefix, or folder of a TF1 checkpoint.

    Returns:
        `(model, hparams)`.

    Raises:
        SketchCheckpointError: nothing at `path`; a missing, unreadable or malformed
            `model_config.json`; a truncated, corrupted or mismatched `model.weights.h5`; an
            unreadable TF1 checkpoint. One line naming the file and what to do.
    """
    weights_path = os.path.join(path, WEIGHTS_NAME)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise SketchCheckpointError(
            f"{path}: no such checkpoint directory; pass a folder with {CONFIG_NAME} and "
            f"{WEIGHTS_NAME} (or a TF1 checkpoint prefix)")
    if os.path.isdir(path) and os.path.lexists(weights_path):
        hparams = load_model_config(os.path.join(path, CONFIG_NAME))
        _check_weights_file(weights_path)
        model = SketchGlocModel.from_hparams(hparams)
        try:
            model.load_weights(weights_path)
        except (ValueError, KeyError) as error:
            raise SketchCheckpointError(
                f"{weights_path}: weights do not match {os.path.join(path, CONFIG_NAME)} "
                f"({_one_line(error)}); use the config written with these weights") from None
        return model, hparams
    prefix = _tf1_prefix(path)
    if prefix is None:
        raise SketchCheckpointError(
            f"{path}: neither a native checkpoint directory ({CONFIG_NAME} + {WEIGHTS_NAME}) nor "
            "a TF1 checkpoint (prefix with .index, or a folder with a 'checkpoint' file)"
        )
    hparams = load_model_config(_find_config(prefix))
    return convert_tf1(prefix, hparams), hparams
