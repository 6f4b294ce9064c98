"""The files of a training run in `log_root`, and every check made on them before a run starts
or resumes.

`log_root` holds `model_config.json` and `model.weights.h5` (the best model: a CHECKPOINT_DIR,
file names from `sketchgloc_tf2.checkpoint`), `para.npz` (upstream's best loss, epoch and step
count), `state/` (the resumable state: `training_state.json` with the `Progress` counters and the
name of the checkpoint folder `ckpt-<count>/` beside it), `reconstructions/` and TensorBoard
event files. This module reads and validates the state record (`read_state_record`,
`check_checkpoint_files`, `check_best_model`), finds and deletes what a run or an interrupted
write left (`run_files`, `remove_run`, `stale_state_entries`), and refuses a resume whose hparams
or data change the saved model (`check_resume_hparams`, `check_resume_data`) or a batch size a
split cannot fill (`check_split_sizes`). `sketchgloc_tf2.training` writes the files.
"""

import dataclasses
import glob
import json
import math
import os
import shutil

import h5py
import tensorflow as tf
from absl import logging

from sketch_common.errors import one_line
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.checkpoint import WEIGHTS_NAME
from sketchgloc_tf2.data import pipeline
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError

STATE_DIR = "state"
STATE_FILE = "training_state.json"
PARA_NAME = "para.npz"
RECONSTRUCTIONS_DIR = "reconstructions"
CHECKPOINT_PREFIX = "ckpt"
PARTIAL_SUFFIX = ".partial"
# Hparams that fix the shape of the saved model: a resume cannot change them.
MODEL_HPARAMS = ("categories", "enc_model", "enc_rnn_size", "dec_model", "dec_rnn_size",
                 "z_size", "num_mixture_components")
START_OVER = ("to start over, rerun without --resume_training and with --overwrite (deletes "
              "the state and the best model)")


@dataclasses.dataclass
class Progress:
    """Counters saved with the resumable state.

    Attributes:
        epoch: epochs completed (upstream's `epoch`, also the number in `vector-<epoch>`).
        step_in_epoch: batches of the current epoch already trained.
        count: training steps so far (upstream's `count`).
        best_valid_loss: best validation loss so far (upstream's initial value 1e20).
        patience: validations since the last improvement (upstream's `cnt`).
        best_epoch: epoch of the best checkpoint (-1: none yet).
    """

    epoch: int = 0
    step_in_epoch: int = 0
    count: int = 0
    best_valid_loss: float = 1e20
    patience: int = 0
    best_epoch: int = -1


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is a leftover of an interrupted write.

    `*.partial` (the state checkpoint folder being written) and `*.partial.*` (temporaries of
    earlier versions), `*_temp` (TensorFlow's checkpoint shards, also of states written by
    earlier versions), `.tmp_*` (`sketch_common.atomic_io`).
    """
    return (name.endswith(PARTIAL_SUFFIX) or PARTIAL_SUFFIX + "." in name
            or name.endswith("_temp") or name.startswith(".tmp_"))


def remove_path(path: str) -> None:
    """Deletes a file or a folder tree."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def stale_state_entries(state_dir: str, checkpoint: str = None) -> list:
    """Names in `state_dir` no resume can use.

    Args:
        state_dir: the `state/` folder.
        checkpoint: the checkpoint `training_state.json` references (`ckpt-<count>/ckpt`, or
            the `ckpt-<count>` prefix of a state written by an earlier version). Given, every
            other checkpoint is stale too; None, only leftovers of interrupted writes are.
    """
    if not os.path.isdir(state_dir):
        return []
    names = [name for name in sorted(os.listdir(state_dir)) if name != STATE_FILE]
    if checkpoint is None:
        return [name for name in names if is_temporary(name)]
    top = checkpoint.split("/")[0]
    in_use = (lambda name: name == top) if "/" in checkpoint else (
        lambda name: name.startswith(checkpoint + ".") and not is_temporary(name))
    return [name for name in names if not in_use(name)]


def run_files(log_root: str) -> list:
    """What `log_root` holds of a training run: `state/` (with anything but leftovers of an
    interrupted save), `model.weights.h5`, `para.npz`; names relative to `log_root`."""
    found = []
    state_dir = os.path.join(log_root, STATE_DIR)
    if os.path.isdir(state_dir) and any(not is_temporary(name) for name in os.listdir(state_dir)):
        found.append(STATE_DIR + "/")
    found += [name for name in (WEIGHTS_NAME, PARA_NAME)
              if os.path.exists(os.path.join(log_root, name))]
    return found


def remove_run(log_root: str) -> None:
    """Deletes a run's state, best model, `para.npz`, reconstructions and write leftovers
    (`model_config.json` and TensorBoard event files stay)."""
    names = [STATE_DIR, WEIGHTS_NAME, PARA_NAME, RECONSTRUCTIONS_DIR]
    names += [name for name in os.listdir(log_root) if is_temporary(name)]
    removed = [name for name in names if os.path.lexists(os.path.join(log_root, name))]
    for name in removed:
        remove_path(os.path.join(log_root, name))
    logging.warning("--overwrite: deleted %s in %s", ", ".join(removed), log_root)


def ensure_log_root(log_root: str) -> None:
    """Creates `log_root` if needed.

    Raises:
        SketchConfigError: `log_root` is a file, cannot be created or is not writable.
    """
    if os.path.exists(log_root) and not os.path.isdir(log_root):
        raise SketchConfigError(f"--log_root {log_root} is a file, not a folder: choose a "
                                "folder for the run")
    try:
        os.makedirs(log_root, exist_ok=True)
    except OSError as error:
        raise SketchConfigError(f"--log_root {log_root}: cannot create the folder "
                                f"({error.strerror}); choose a writable location") from error
    if not os.access(log_root, os.W_OK | os.X_OK):
        raise SketchConfigError(f"--log_root {log_root} is not writable; choose a writable "
                                "location or fix its permissions")


def state_error(path: str, problem: str) -> SketchCheckpointError:
    return SketchCheckpointError(f"{path} {problem}: the training state cannot be resumed; "
                                 f"{START_OVER}")


def _has_type(value, declared: type) -> bool:
    if isinstance(value, bool):
        return False
    if declared is float:
        return isinstance(value, (int, float))
    return isinstance(value, declared)


def read_state_record(log_root: str):
    """Reads and checks `log_root/state/training_state.json`.

    Returns:
        The record: the `Progress` fields and `checkpoint` (the checkpoint's name relative to
        `state/`); None when the file does not exist.

    Raises:
        SketchCheckpointError: the file is unreadable, empty, not JSON or incomplete (the
            message names it and says what to do).
    """
    state_dir = os.path.join(log_root, STATE_DIR)
    path = os.path.join(state_dir, STATE_FILE)
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise state_error(path, f"is unreadable ({one_line(error)})") from error
    if not text.strip():
        raise state_error(path, "is empty")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise state_error(path, f"is not valid JSON ({error})") from error
    expected = {field.name: field.type for field in dataclasses.fields(Progress)}
    expected["checkpoint"] = str
    if not isinstance(record, dict):
        raise state_error(path, "is not a JSON object")
    missing = [name for name in expected if name not in record]
    if missing:
        raise state_error(path, f"lacks {', '.join(missing)}")
    for name, declared in expected.items():
        if not _has_type(record[name], declared):
            kind = {int: "an integer", float: "a number", str: "a string"}[declared]
            raise state_error(path, f"has {name}={record[name]!r}, not {kind}")
    checkpoint = record["checkpoint"]
    parts = checkpoint.split("/")
    if os.path.isabs(checkpoint) or "\\" in checkpoint or any(
            part in ("", ".", "..") for part in parts):
        raise state_error(path, f"names the checkpoint {checkpoint!r}, not one inside "
                                 f"{state_dir}")
    return {name: record[name] for name in expected}


def check_checkpoint_files(prefix: str) -> list:
    """Checks that the checkpoint `prefix` has its `.index` and every `.data-*` shard, and that
    the index reads.

    Returns:
        The paths of the data shards.

    Raises:
        SketchCheckpointError: naming the missing or unreadable file.
    """
    index = prefix + ".index"
    if not os.path.isfile(index):
        raise state_error(index, "is missing")
    shards = glob.glob(glob.escape(prefix) + ".data-*-of-*")
    count = int(shards[0].rsplit("-of-", 1)[1]) if shards else 1
    expected = [f"{prefix}.data-{shard:05d}-of-{count:05d}" for shard in range(count)]
    missing = [path for path in expected if not os.path.isfile(path)]
    if missing:
        raise state_error(missing[0], "is missing")
    try:
        tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise state_error(index, f"is unreadable ({one_line(error)})") from error
    return expected


def check_best_model(log_root: str, best_epoch: int) -> None:
    """Checks that the best model a state records (`best_epoch` >= 0) exists and opens.

    Raises:
        SketchCheckpointError: naming `model.weights.h5`.
    """
    path = os.path.join(log_root, WEIGHTS_NAME)
    state_file = os.path.join(log_root, STATE_DIR, STATE_FILE)
    fix = (f"{state_file} records a best model of epoch {best_epoch}; put the file back, "
           f"or {START_OVER}")
    if not os.path.isfile(path):
        raise SketchCheckpointError(f"{path} is missing, but {fix}")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as error:
        raise SketchCheckpointError(f"{path} is unreadable ({one_line(error)}), but "
                                    f"{fix}") from error


def describe_changes(changes: dict) -> str:
    """`{name: (old, new)}` as `name old -> new, ...`."""
    return ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changes.items())


def check_resume_hparams(stored: hparams_lib.HParams, hparams: hparams_lib.HParams,
                         config_path: str) -> None:
    """Refuses hparams that change the shape of the saved model; logs the other changes.

    The sizes and scale factor computed from the data are compared by `check_resume_data`.

    Raises:
        SketchConfigError: naming each changed `MODEL_HPARAMS` entry (old -> new).
    """
    changed = hparams_lib.differences(stored, hparams)
    for name in hparams_lib.COMPUTED_HPARAMS:
        changed.pop(name, None)
    shape = {name: change for name, change in changed.items() if name in MODEL_HPARAMS}
    if shape:
        raise SketchConfigError(
            f"--resume_training with {describe_changes(shape)}: the run in "
            f"{os.path.dirname(config_path)} was trained with the values of {config_path}; "
            "resume without changing them, or start a new run in another --log_root")
    if changed:
        logging.info("Resuming with changed hparams: %s", describe_changes(changed))


def check_resume_data(stored: hparams_lib.HParams, computed: hparams_lib.HParams,
                      config_path: str, data_dir: str) -> None:
    """Refuses data whose sizes or `normalizing_scale_factor` differ from the stored run's.

    Raises:
        SketchConfigError: naming the changed values and their cause (`num_per_category` or
            the data).
    """
    changed = {}
    for name, (old, new) in hparams_lib.differences(
            stored, computed, hparams_lib.COMPUTED_HPARAMS).items():
        if old != -1 and not math.isclose(old, new, rel_tol=1e-9):
            changed[name] = (old, new)
    if not changed:
        return
    if stored.num_per_category != computed.num_per_category:
        cause = describe_changes({"num_per_category": (stored.num_per_category,
                                                       computed.num_per_category)})
    else:
        cause = f"the data in {data_dir} differ from the run's"
    raise SketchConfigError(
        f"--resume_training: {cause}, which changes {describe_changes(changed)} of "
        f"{config_path}; the saved model was trained on the old data: resume with the run's "
        "data and num_per_category, or start a new run in another --log_root")


def check_split_sizes(prepared: pipeline.PreparedData, data_dir: str) -> None:
    """Refuses a `batch_size` that leaves a split without a batch.

    Training takes upstream's `ceil(M/B) - 1` batches per epoch, so it needs more than B
    sketches; validation and test evaluate full batches only, so they need at least B.

    Raises:
        SketchConfigError: naming the split, its size and the largest usable batch_size.
    """
    batch_size = prepared.hparams.batch_size
    for split, extra in (("train", 1), ("valid", 0), ("test", 0)):
        count = len(prepared.split(split))
        if count >= batch_size + extra:
            continue
        largest = count - extra
        fix = (f"lower batch_size to at most {largest}" if largest >= 1 else
               "add sketches")
        raise SketchConfigError(
            f"batch_size={batch_size} is too large for the {split} split of {data_dir} "
            f"({count} sketches of {', '.join(prepared.hparams.categories)}): {fix} (or raise "
            "num_per_category)")
