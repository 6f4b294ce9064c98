"""Loading a CHECKPOINT_DIR: a native checkpoint directory, or an original TF1 checkpoint.

A native checkpoint directory (written by `python -m sketchgloc_tf2.convert` or by training) holds
`model_config.json` and `model.weights.h5`. For convenience an original TF1 checkpoint is accepted
too (a prefix such as `ckpt/vector-123`, or a folder with a TF `checkpoint` file); it is converted
in memory, with `model_config.json` taken from its folder or the folder above.
"""

import os

import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import CONFIG_NAME, WEIGHTS_NAME, convert_tf1
from sketchgloc_tf2.errors import SketchCheckpointError
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


def load_checkpoint_dir(path):
    """Loads a model from a CHECKPOINT_DIR.

    Args:
        path: native checkpoint directory, TF1 checkpoint prefix, or folder of a TF1 checkpoint.

    Returns:
        `(model, hparams)`.

    Raises:
        SketchCheckpointError: nothing loadable at `path`, or weights that do not match the config.
    """
    weights_path = os.path.join(path, WEIGHTS_NAME)
    if os.path.isdir(path) and os.path.exists(weights_path):
        hparams = hparams_lib.load_config(os.path.join(path, CONFIG_NAME))
        model = SketchGlocModel.from_hparams(hparams)
        try:
            model.load_weights(weights_path)
        except (ValueError, KeyError) as error:
            raise SketchCheckpointError(
                f"{weights_path}: weights do not match {CONFIG_NAME} ({error})") from None
        return model, hparams
    prefix = _tf1_prefix(path)
    if prefix is None:
        raise SketchCheckpointError(
            f"{path}: neither a native checkpoint directory ({CONFIG_NAME} + {WEIGHTS_NAME}) nor "
            "a TF1 checkpoint (prefix with .index, or a folder with a 'checkpoint' file)"
        )
    hparams = hparams_lib.load_config(_find_config(prefix))
    return convert_tf1(prefix, hparams), hparams
