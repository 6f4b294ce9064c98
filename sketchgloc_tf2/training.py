"""The SketchGloc training loop: upstream's epochs, validation and early stopping, XLA-compiled.

Upstream semantics kept (docs/differences.md#sg-4): Adam with TF1 defaults (epsilon 1e-8); every
gradient clipped to norm `grad_clip` on its own; the learning rate `(lr - min_lr) · decay_rate^1 +
min_lr`, constant because upstream never advances its step counter (`lr_decay=True` makes it decay
per step); epochs of `ceil(M/B) - 1` shuffled batches; validation every `save_every` epochs on the
clean validation batches with the evaluation model (z = μ, batch norm on moving statistics, pen loss
masked); a checkpoint at each improvement; early stop after 5 validations without improvement.

What the port adds: `num_steps` is honoured as an upper bound; the resumable training state
(weights, optimizer, random-generator states, epoch, step, best loss, patience) is saved at each
epoch end and every `save_state_steps` steps, and `resume=True` continues exactly where the run
stopped; every file is written atomically; a non-finite loss stops the run with a clear message
and the last good checkpoint intact; TensorBoard scalars `Train_Cost`, `Valid_Cost`, `Test_Cost`,
`Learning_Rate` under `log_root`, and the hparams (HParams dashboard) once per run; a progress
bar (plain, one line per epoch, when stdout is not a terminal); at each new best a PNG grid of
reconstructions, also logged as the TensorBoard image `Reconstructions`.

Runs are never lost (`start_run`, `Trainer.save_state`, `Trainer.restore_state`): a kill at any
moment leaves a resumable `log_root` (leftovers of an interrupted save are deleted by the next
save or resume); a failed save (full disk, read-only folder) stops with a one-line
`SketchCheckpointError` and the previous state intact; a resume checks every file of the state
and names the broken one; a fresh run refuses a `log_root` that holds another run unless
`overwrite` is set; a resume refuses hparams that change the model's shape or the data's scale.

Distributed training (`strategy`, see `sketch_common.distribute`): model and optimizer live in
`strategy.scope()`; each step splits the global batch of `batch_size` sketches over the R
replicas (`batch_size / R` each), runs the step with `strategy.run` and sums the replicas' loss
shares `loss_r · (B/R) / B`, whose gradients the optimizer sums: the result is the gradient of
the single-device loss on the global batch. The batch norm uses the global batch statistics
(sync batch norm) and the reparameterisation noise is drawn for the global batch and sliced, so
a mirrored run follows the single-device trajectory (up to float rounding) when dropout is off.
Gradients are clipped after the cross-replica sum (`ClippedAdam`). The distributed step runs as
a graph without XLA (XLA's CPU compiler cannot address the variables of other logical CPUs);
validation, test and pictures run on one device with the mirrored weights.

Files under `log_root`: `model_config.json` and `model.weights.h5` (the best model: together they
are a CHECKPOINT_DIR every tool accepts), `para.npz` (upstream's best loss, epoch and step count),
`state/` (the resumable state: `training_state.json`, the progress counters and the name of the
checkpoint folder `ckpt-<count>/` beside it), `reconstructions/epoch_<e>.png`, TensorBoard event
files.
"""

import contextlib
import dataclasses
import glob
import json
import math
import os
import shutil
import sys
import time

import h5py
import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sketch_common import distribute
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import CONFIG_NAME, WEIGHTS_NAME
from sketchgloc_tf2.data import pipeline
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchError
from sketchgloc_tf2.model import BATCH_KEYS, SketchGlocModel

PATIENCE = 5
MAX_EPOCHS = 100000
LOG_EVERY_STEPS = 20
RECONSTRUCTIONS_SHOWN = 8
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


class TrainingDivergedError(SketchError, RuntimeError):
    """The training loss became NaN or infinite."""


@keras.saving.register_keras_serializable(package="sketchgloc_tf2")
class UpstreamLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """`(learning_rate - min_learning_rate) · decay_rate^k + min_learning_rate`.

    Upstream's exponent k is a step variable initialised to 1 and never incremented, so the rate
    is constant (0.0009999901 with the defaults). With `decay=True`, k = 1 + optimizer step.

    Args:
        learning_rate: initial rate.
        min_learning_rate: floor.
        decay_rate: per-step decay base.
        decay: advance the exponent with the optimizer step.
    """

    def __init__(self, learning_rate, min_learning_rate, decay_rate, decay=False):
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.decay_rate = decay_rate
        self.decay = decay

    def __call__(self, step):
        exponent = 1.0 + tf.cast(step, tf.float32) if self.decay else tf.constant(1.0)
        span = self.learning_rate - self.min_learning_rate
        return span * tf.pow(tf.constant(self.decay_rate, tf.float32), exponent) + (
            self.min_learning_rate)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "decay_rate": self.decay_rate,
            "decay": self.decay,
        }


@keras.saving.register_keras_serializable(package="sketchgloc_tf2")
class ClippedAdam(keras.optimizers.Adam):
    """Adam that clips each variable's gradient to norm `gradient_clip` on its own.

    As upstream's `tf.clip_by_norm` per gradient before `apply_gradients`, but applied in
    `update_step`, i.e. after the optimizer's cross-replica sum under a `tf.distribute` strategy
    (Keras' `clipnorm` clips each replica's partial gradient before the sum, which is not the
    clipped global gradient).

    Args:
        gradient_clip: maximum L2 norm of each variable's gradient.
        **kwargs: `keras.optimizers.Adam` arguments.
    """

    def __init__(self, gradient_clip, **kwargs):
        super().__init__(**kwargs)
        self.gradient_clip = gradient_clip

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(tf.clip_by_norm(gradient, self.gradient_clip), variable,
                            learning_rate)

    def get_config(self):
        config = super().get_config()
        config["gradient_clip"] = self.gradient_clip
        return config


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


def atomic_save_weights(model: keras.Model, path: str) -> None:
    """Writes `model.weights.h5` through a temporary file and a rename."""
    temporary = path + PARTIAL_SUFFIX + ".weights.h5"
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_savez(path: str, **arrays) -> None:
    """`numpy.savez` through a temporary file and a rename."""
    temporary = path + PARTIAL_SUFFIX + ".npz"
    try:
        np.savez(temporary, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def progress_bar_verbosity(verbose: bool, stream=None) -> int:
    """The `keras.utils.Progbar` verbosity: 0 (quiet), 1 (a live bar, on a terminal) or 2 (one
    plain line per epoch, no ANSI codes or carriage returns, when `stream` (default stdout) is
    a file or pipe)."""
    if not verbose:
        return 0
    stream = sys.stdout if stream is None else stream
    return 1 if stream.isatty() else 2


def first_line(error: BaseException) -> str:
    """An exception's message cut to its first line (TensorFlow's messages run over many)."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is a leftover of an interrupted write.

    `*.partial` and `*.partial.*` (this module), `*_temp` (TensorFlow's checkpoint shards, also
    of states written by earlier versions), `.tmp_*` (`hparams.atomic_write_text`).
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


def _state_error(path: str, problem: str) -> SketchCheckpointError:
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
        raise _state_error(path, f"is unreadable ({first_line(error)})") from error
    if not text.strip():
        raise _state_error(path, "is empty")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise _state_error(path, f"is not valid JSON ({error})") from error
    expected = {field.name: field.type for field in dataclasses.fields(Progress)}
    expected["checkpoint"] = str
    if not isinstance(record, dict):
        raise _state_error(path, "is not a JSON object")
    missing = [name for name in expected if name not in record]
    if missing:
        raise _state_error(path, f"lacks {', '.join(missing)}")
    for name, declared in expected.items():
        if not _has_type(record[name], declared):
            kind = {int: "an integer", float: "a number", str: "a string"}[declared]
            raise _state_error(path, f"has {name}={record[name]!r}, not {kind}")
    checkpoint = record["checkpoint"]
    parts = checkpoint.split("/")
    if os.path.isabs(checkpoint) or "\\" in checkpoint or any(
            part in ("", ".", "..") for part in parts):
        raise _state_error(path, f"names the checkpoint {checkpoint!r}, not one inside "
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
        raise _state_error(index, "is missing")
    shards = glob.glob(glob.escape(prefix) + ".data-*-of-*")
    count = int(shards[0].rsplit("-of-", 1)[1]) if shards else 1
    expected = [f"{prefix}.data-{shard:05d}-of-{count:05d}" for shard in range(count)]
    missing = [path for path in expected if not os.path.isfile(path)]
    if missing:
        raise _state_error(missing[0], "is missing")
    try:
        tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise _state_error(index, f"is unreadable ({first_line(error)})") from error
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
        raise SketchCheckpointError(f"{path} is unreadable ({first_line(error)}), but "
                                    f"{fix}") from error


def make_optimizer(hparams: hparams_lib.HParams) -> keras.optimizers.Optimizer:
    """Adam as upstream's `tf.train.AdamOptimizer` (epsilon 1e-8) on the upstream rate, each
    gradient clipped to norm `grad_clip`."""
    schedule = UpstreamLearningRate(hparams.learning_rate, hparams.min_learning_rate,
                                    hparams.decay_rate, decay=hparams.lr_decay)
    return ClippedAdam(hparams.grad_clip, learning_rate=schedule, beta_1=0.9, beta_2=0.999,
                       epsilon=1e-8)


def random_generator_states(model: keras.Model) -> list:
    """The `SeedGenerator` state variables of a model (dropout masks, reparameterisation noise).

    `tf.train.Checkpoint` does not reach them through the layers, so the trainer saves them
    explicitly: without them a resumed run would draw different noise than an uninterrupted one.
    """
    return [variable for variable in model.variables
            if variable.path.endswith("seed_generator_state")]


def model_inputs(batch: dict) -> dict:
    """The five arrays the model reads, from a pipeline batch."""
    return {key: batch[key] for key in BATCH_KEYS}


def shard_batch(batch: dict, replica, replicas: int) -> dict:
    """Replica `replica`'s sketches `[r B/R, (r+1) B/R)` of a global batch of `model_inputs`.

    Node rows are packed (sketch b's nodes start at row `sum(strokes_num[:b])`, zero rows after
    the last node), so the replica's node rows are the packed rows of its sketches, moved to the
    front of its `[B/R * N]` rows and followed by zero rows, exactly as a batch of those sketches
    is built on one device.

    Args:
        batch: dict of the five `BATCH_KEYS` (global batch B).
        replica: replica index r (int or scalar int tensor).
        replicas: R, a divisor of B.

    Returns:
        The batch of B/R sketches, same keys.
    """
    shard = distribute.shard_batch(
        {key: batch[key] for key in ("input_seqs", "input_strokes_num", "input_box")},
        replica, replicas)
    strokes_num = tf.cast(batch["input_strokes_num"], tf.int32)
    per_replica = strokes_num.shape[0] // replicas
    first_row = tf.reduce_sum(strokes_num[:replica * per_replica])
    node_count = tf.reduce_sum(shard["input_strokes_num"])
    total_rows = batch["input_strokes"].shape[0]
    rows = tf.range(total_rows // replicas)
    source = tf.minimum(first_row + rows, total_rows - 1)
    real = rows < node_count
    strokes = tf.gather(batch["input_strokes"], source)
    shard["input_strokes"] = tf.where(real[:, None, None], strokes, tf.zeros_like(strokes))
    lengths = tf.gather(batch["input_stroke_len"], source)
    shard["input_stroke_len"] = tf.where(real, lengths, tf.zeros_like(lengths))
    return shard


def hparams_summary_values(values: dict) -> dict:
    """Hparams as the HParams dashboard takes them: lists joined with commas, None dropped."""
    summary = {}
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            summary[name] = ",".join(str(item) for item in value)
        elif isinstance(value, (bool, int, float, str)):
            summary[name] = value
    return summary


class Trainer:
    """Trains a SketchGloc model on prepared data.

    Args:
        prepared: `PreparedData` (its hparams carry the sizes and scale factor).
        log_root: output folder.
        save_state_steps: save the resumable state every this many steps (0: epoch ends only).
        verbose: show a progress bar per epoch.
        strategy: a `tf.distribute.Strategy` (see the module docstring), or None for the
            single-device XLA step.
        pictures: write the reconstruction grid (PNG and TensorBoard image) at each new best.

    Attributes:
        train_losses: the loss of every training step run by this trainer, in order.
        train_step: the compiled step: global batch dict (or, with a strategy, the per-replica
            batches of `distribute.distribute_batches`) -> scalar global-batch loss.

    Raises:
        SketchConfigError: `batch_size` is not a multiple of the strategy's replicas.
    """

    def __init__(self, prepared: pipeline.PreparedData, log_root: str,
                 save_state_steps: int = 500, verbose: bool = True, strategy=None,
                 pictures: bool = True):
        self.prepared = prepared
        self.pictures = pictures
        self.hparams = prepared.hparams
        self.log_root = log_root
        self.save_state_steps = save_state_steps
        self.verbose = verbose
        self.strategy = strategy
        hparams = self.hparams
        self.replica_batch_size = hparams.batch_size
        if strategy is not None:
            self.replica_batch_size = distribute.check_global_batch(hparams.batch_size, strategy)
            if (hparams.use_recurrent_dropout or hparams.use_input_dropout
                    or hparams.use_output_dropout):
                logging.warning(
                    "Dropout under a %d-replica strategy: every replica draws its masks from "
                    "the same seed, so they differ from a single-device run's masks on the "
                    "global batch (the loss trajectories then agree only statistically)",
                    strategy.num_replicas_in_sync)
        keras.utils.set_random_seed(hparams.seed)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.model = SketchGlocModel.from_hparams(hparams)
            self.optimizer = make_optimizer(hparams)
            self.optimizer.build(self.model.trainable_variables)
        self.progress = Progress()
        self.train_losses = []
        self.reconstruction_sampler = None
        self.train_batcher = pipeline.SketchBatcher(prepared.train, hparams, augment=True)
        self.valid_batcher = pipeline.SketchBatcher(prepared.valid, hparams, augment=False)
        self.test_batcher = pipeline.SketchBatcher(prepared.test, hparams, augment=False)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer,
            random_states=random_generator_states(self.model))
        self.summary_writer = tf.summary.create_file_writer(log_root)
        if strategy is None:
            self.train_step = tf.function(self._train_step, jit_compile=True, autograph=False)
        else:
            self.global_noise = tf.function(self._global_noise, jit_compile=True,
                                            autograph=False)
            self.train_step = tf.function(self._distributed_train_step, autograph=False)
        self.eval_step = tf.function(self._eval_step, jit_compile=True, autograph=False)

    def _train_step(self, batch):
        """One optimizer step on `batch` (with a strategy: this replica's slice).

        Returns:
            The batch loss; with a strategy, this replica's share `loss_r · B_r / B`.
        """
        variables = self.model.trainable_variables
        eps = None
        if self.strategy is not None:
            eps = distribute.replica_rows(self.global_noise(self.model.seed_generator.next()))
        with tf.GradientTape() as tape:
            loss, _ = self.model.compute_loss_from_batch(batch, training=True, eps=eps)
            if self.strategy is not None:
                loss = loss * (self.replica_batch_size / self.hparams.batch_size)
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return loss

    def _global_noise(self, seed):
        """The `[B, Z]` reparameterisation noise of the global batch from a seed-generator state.

        XLA-compiled because XLA and the TensorFlow kernels draw different numbers from the same
        stateless seed: this is the draw `keras.random.normal(seed=SeedGenerator)` makes inside
        the single-device XLA step (same int32 seed cast), so distributed and single-device runs
        share their noise stream.
        """
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        return tf.random.stateless_normal([self.hparams.batch_size, self.hparams.z_size],
                                          seed=seed)

    def _distributed_train_step(self, batches):
        shares = self.strategy.run(self._train_step, args=(batches,))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, shares, axis=None)

    def _eval_step(self, batch):
        loss, _ = self.model.compute_loss_from_batch(batch, training=False)
        return loss

    def learning_rate(self) -> float:
        """The rate the next step uses."""
        return float(self.optimizer.learning_rate)

    # ------------------------------------------------------------------ state

    def _state_dir(self):
        return os.path.join(self.log_root, STATE_DIR)

    def _new_checkpoint_name(self, state_dir: str) -> str:
        """`ckpt-<count>`, or `ckpt-<count>-<k>` when that name is taken (a second save at the
        same step, e.g. at an epoch end, never overwrites the checkpoint in use)."""
        name = f"ckpt-{self.progress.count}"
        suffix = 1
        while os.path.lexists(os.path.join(state_dir, name)):
            suffix += 1
            name = f"ckpt-{self.progress.count}-{suffix}"
        return name

    def save_state(self) -> None:
        """Writes the resumable state so that a kill at any moment leaves a resumable folder.

        Leftovers of interrupted saves are deleted; the checkpoint is written to
        `state/ckpt-<count>.partial/` and renamed to `state/ckpt-<count>/` once complete; then
        `training_state.json` (the progress counters and the checkpoint's name) is replaced
        atomically, and the previous checkpoint is deleted.

        Raises:
            SketchCheckpointError: the state cannot be written (full disk, permissions); the
                previous state is left as it was.
        """
        state_dir = self._state_dir()
        try:
            os.makedirs(state_dir, exist_ok=True)
            for name in stale_state_entries(state_dir):
                remove_path(os.path.join(state_dir, name))
            name = self._new_checkpoint_name(state_dir)
            partial = os.path.join(state_dir, name + PARTIAL_SUFFIX)
            os.mkdir(partial)
            try:
                self.checkpoint.write(os.path.join(partial, CHECKPOINT_PREFIX))
                os.replace(partial, os.path.join(state_dir, name))
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            record = dataclasses.asdict(self.progress)
            record["checkpoint"] = f"{name}/{CHECKPOINT_PREFIX}"
            hparams_lib.atomic_write_text(os.path.join(state_dir, STATE_FILE),
                                          json.dumps(record, indent=1))
        except (OSError, tf.errors.OpError) as error:
            raise SketchCheckpointError(
                f"could not save the training state in {state_dir} ({first_line(error)}); the "
                "previous state there is intact: free disk space or fix the folder's "
                "permissions, then continue with --resume_training") from error
        self._remove_stale_state(record["checkpoint"])

    def _remove_stale_state(self, checkpoint: str) -> None:
        """Deletes every entry of `state/` but `checkpoint` and the pointer file (best effort:
        what cannot be deleted now is deleted by the next save)."""
        state_dir = self._state_dir()
        for name in stale_state_entries(state_dir, checkpoint):
            try:
                remove_path(os.path.join(state_dir, name))
            except OSError as error:
                logging.warning("could not delete the stale %s: %s",
                                os.path.join(state_dir, name), error)

    def restore_state(self) -> bool:
        """Restores the last saved state; returns False when `log_root` has none.

        Checks every file first: `training_state.json` (parseable, complete), the checkpoint's
        `.index` and `.data-*` files (present, readable, matching the model) and, when the
        state records a best model, `model.weights.h5`. Then deletes the leftovers of
        interrupted saves.

        Raises:
            SketchCheckpointError: one line naming the broken file and what to do.
        """
        record = read_state_record(self.log_root)
        if record is None:
            return False
        checkpoint = record.pop("checkpoint")
        prefix = os.path.join(self._state_dir(), checkpoint)
        data_files = check_checkpoint_files(prefix)
        try:
            self.checkpoint.read(prefix).assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError) as error:
            raise _state_error(", ".join(data_files),
                               f"is truncated or corrupt ({first_line(error)})") from error
        except (AssertionError, ValueError) as error:
            raise SketchCheckpointError(
                f"{prefix}: the saved state does not match the model of "
                f"{os.path.join(self.log_root, CONFIG_NAME)} ({first_line(error)}); resume "
                f"with the run's hparams, or {START_OVER}") from error
        progress = Progress(**record)
        if progress.best_epoch >= 0:
            check_best_model(self.log_root, progress.best_epoch)
        self.progress = progress
        self._remove_stale_state(checkpoint)
        logging.info("Resumed at epoch %d, step %d of the epoch, %d steps in all, best valid "
                     "loss %.4f", self.progress.epoch, self.progress.step_in_epoch,
                     self.progress.count, self.progress.best_valid_loss)
        return True

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, batcher: pipeline.SketchBatcher) -> float:
        """Mean evaluation loss over the split's full batches (upstream `evaluate_model`)."""
        batch_size = self.hparams.batch_size
        if batcher.num_eval_batches(batch_size) == 0:
            raise SketchError(
                f"the split has {len(batcher)} sketches, fewer than batch_size={batch_size}: "
                "no full batch to evaluate; lower batch_size")
        losses = [float(self.eval_step(model_inputs(batch)))
                  for batch in pipeline.eval_dataset(batcher, batch_size)]
        return float(np.mean(losses))

    def _write_scalar(self, tag, value, step):
        with self.summary_writer.as_default():
            tf.summary.scalar(tag, value, step=step)

    def _save_best(self, valid_loss: float) -> None:
        progress = self.progress
        progress.best_valid_loss = valid_loss
        progress.best_epoch = progress.epoch
        progress.patience = 0
        start = time.time()
        try:
            atomic_save_weights(self.model, os.path.join(self.log_root, WEIGHTS_NAME))
            atomic_savez(os.path.join(self.log_root, PARA_NAME), best_valid_loss=valid_loss,
                         epoch=progress.epoch, count=progress.count)
        except OSError as error:
            raise SketchCheckpointError(
                f"could not save the best model in {self.log_root} ({first_line(error)}); the "
                "previous best model and the training state are intact: free disk space or "
                "fix the folder's permissions, then continue with --resume_training"
            ) from error
        logging.info("Saved the best model of epoch %d (valid loss %.4f) in %.2fs",
                     progress.epoch, valid_loss, time.time() - start)
        if self.pictures:
            self._write_reconstructions()
        test_loss = self.evaluate(self.test_batcher)
        logging.info("Test_cost: %.4f", test_loss)
        self._write_scalar("Test_Cost", test_loss, progress.count)

    def _write_reconstructions(self) -> None:
        from sketchgloc_tf2 import pictures  # imported late: matplotlib is only needed here

        batch = self.test_batcher.batch(self._reconstruction_indices(), 0.0,
                                        np.random.RandomState(0))
        path = os.path.join(self.log_root, RECONSTRUCTIONS_DIR,
                            f"epoch_{self.progress.epoch}.png")
        if self.reconstruction_sampler is None:
            from sketchgloc_tf2.sampling import Sampler

            self.reconstruction_sampler = Sampler(self.model, self.hparams.max_seq_len,
                                                  greedy=True)
        pictures.reconstruction_grid(self.model, self.hparams, batch, path,
                                     max_sketches=RECONSTRUCTIONS_SHOWN,
                                     sampler=self.reconstruction_sampler)
        image = tf.image.decode_png(tf.io.read_file(path), channels=3)
        with self.summary_writer.as_default():
            tf.summary.image("Reconstructions", image[None], step=self.progress.count,
                             description=f"original / input / reconstruction, epoch "
                                         f"{self.progress.epoch}")

    def _reconstruction_indices(self) -> np.ndarray:
        """Test sketches for the reconstruction grid, taken in turn from each category."""
        offsets = self.prepared.test.category_offsets()
        per_category = [np.arange(start, stop) for start, stop in zip(offsets[:-1], offsets[1:])]
        rounds = max(len(indices) for indices in per_category)
        interleaved = [indices[k] for k in range(rounds) for indices in per_category
                       if k < len(indices)]
        return np.asarray(interleaved[:RECONSTRUCTIONS_SHOWN])

    def write_hparams(self) -> None:
        """The run's hparams (and replica count) for TensorBoard's HParams dashboard."""
        from tensorboard.plugins.hparams import api as hparams_api

        values = hparams_summary_values(self.hparams.values())
        values["replicas"] = self.strategy.num_replicas_in_sync if self.strategy else 1
        with self.summary_writer.as_default():
            hparams_api.hparams(values, trial_id=os.path.basename(os.path.abspath(
                self.log_root)))

    def validate(self, counts_for_patience: bool = True) -> float:
        """Upstream's validation block; saves the model on improvement."""
        progress = self.progress
        logging.info("Best_valid_loss: %.4f", progress.best_valid_loss)
        start = time.time()
        valid_loss = self.evaluate(self.valid_batcher)
        logging.info("Valid_cost: %.4f, Lil: %.4f, Time_taken: %.4f", valid_loss, valid_loss,
                     time.time() - start)
        self._write_scalar("Valid_Cost", valid_loss, progress.count)
        if valid_loss < progress.best_valid_loss:
            self._save_best(valid_loss)
        elif counts_for_patience:
            progress.patience += 1
        return valid_loss

    # ------------------------------------------------------------------ training

    def _check_finite(self, loss: float) -> None:
        """Raises `TrainingDivergedError` for a non-finite loss, naming what was saved."""
        if math.isfinite(loss):
            return
        progress = self.progress
        saved = []
        best = os.path.join(self.log_root, WEIGHTS_NAME)
        if os.path.exists(best):
            saved.append(f"the best model ({best}, epoch {progress.best_epoch})")
        has_state = os.path.exists(os.path.join(self._state_dir(), STATE_FILE))
        if has_state:
            saved.append(f"the resume state ({self._state_dir()})")
        if saved:
            kept = f"{' and '.join(saved)} {'are' if len(saved) > 1 else 'is'} intact"
        else:
            kept = "nothing was saved yet"
        if has_state:
            advice = "continue with --resume_training"
        else:
            advice = "start again" + (" with --overwrite" if saved else "")
        raise TrainingDivergedError(
            f"training loss is {loss} at epoch {progress.epoch}, step {progress.step_in_epoch} "
            f"({progress.count} steps in all); stopped without saving: {kept}. Lower "
            f"learning_rate or grad_clip and {advice}.")

    def train_epoch(self) -> bool:
        """Trains the rest of the current epoch; returns False when `num_steps` stopped it."""
        hparams, progress = self.hparams, self.progress
        num_batches = self.train_batcher.num_train_batches(hparams.batch_size)

        def epoch_batches():
            return pipeline.training_dataset(
                self.train_batcher, hparams.batch_size, hparams.re_scale, hparams.seed,
                progress.epoch, progress.step_in_epoch).map(model_inputs)

        if self.strategy is None:
            dataset = epoch_batches()
        else:
            dataset = distribute.distribute_batches(self.strategy, epoch_batches, shard_batch)
        progbar = keras.utils.Progbar(num_batches, verbose=progress_bar_verbosity(self.verbose),
                                      stateful_metrics=["loss"])
        progbar.update(progress.step_in_epoch)
        start = time.time()
        for batch in dataset:
            learning_rate = self.learning_rate()
            loss = float(self.train_step(batch))
            self._check_finite(loss)
            self.train_losses.append(loss)
            progress.count += 1
            progress.step_in_epoch += 1
            progbar.update(progress.step_in_epoch, [("loss", loss)])
            self._write_scalar("Train_Cost", loss, progress.count)
            self._write_scalar("Learning_Rate", learning_rate, progress.count)
            if progress.step_in_epoch % LOG_EVERY_STEPS == 0:
                logging.info("Epoch: %d, Step: %d, Lil: %.4f, Time: %.4f", progress.epoch,
                             progress.step_in_epoch, loss, time.time() - start)
                start = time.time()
            if progress.count >= hparams.num_steps:
                return False
            if self.save_state_steps and progress.count % self.save_state_steps == 0:
                self.save_state()
        progress.epoch += 1
        progress.step_in_epoch = 0
        return True

    def run(self) -> Progress:
        """Trains until early stopping, `num_steps` or `MAX_EPOCHS`; returns the final counters.

        A restored run that had already stopped (its state saved after the last validation)
        trains no further, so a run killed after its last save ends as the uninterrupted one.
        """
        hparams, progress = self.hparams, self.progress
        if self.train_batcher.num_train_batches(hparams.batch_size) == 0:
            raise SketchError(
                f"{len(self.train_batcher)} training sketches make no batch of "
                f"batch_size={hparams.batch_size}; lower batch_size or add data")
        if progress.count >= hparams.num_steps or progress.patience >= PATIENCE:
            logging.info("The run had already stopped (%d steps, %d validations without "
                         "improvement); raise num_steps to train on", progress.count,
                         progress.patience)
            return progress
        self.write_hparams()
        while progress.epoch < MAX_EPOCHS:
            if not self.train_epoch():
                logging.info("Reached num_steps=%d", hparams.num_steps)
                self.validate(counts_for_patience=False)
                self.save_state()
                break
            if progress.epoch % hparams.save_every == 0:
                self.validate()
            self.save_state()
            if progress.patience >= PATIENCE:
                logging.info("No improvement in %d validations: stopping", PATIENCE)
                break
        self.summary_writer.flush()
        return progress


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


def start_run(data_dir: str, log_root: str, hparams: hparams_lib.HParams, resume: bool = False,
              save_state_steps: int = 500, verbose: bool = True, strategy=None,
              pictures: bool = True, overwrite: bool = False) -> Trainer:
    """Checks the run, prepares data, writes `model_config.json` and builds a `Trainer`.

    Every check that needs no data comes first (hparams, `log_root`, the saved state's pointer
    file and hparams), then the data are prepared and the split sizes and the data-derived
    sizes checked; only then is anything deleted or written.

    `log_root` holds a run when it has a saved state (`state/` with anything but leftovers of
    an interrupted save), a best model (`model.weights.h5`) or `para.npz`. A folder with only
    `model_config.json`, TensorBoard events or the demo data (a run killed before its first
    save) holds none: nothing there is lost, so a fresh run starts in it, and `resume` starts
    from scratch with a warning. Interrupted writes are cleaned by the first save.

    Args:
        data_dir: folder of the `<category>.npz` files.
        log_root: the run's folder.
        hparams: the run's hparams. On resume, those of the stored `model_config.json` with the
            command line's overrides applied (the sizes are recomputed from the data, as
            upstream does).
        resume: continue the run in `log_root` from its saved state.
        save_state_steps, verbose, strategy, pictures: see `Trainer`.
        overwrite: start a fresh run even if `log_root` holds one, deleting its state, best
            model, `para.npz` and reconstructions (`model_config.json` is rewritten; TensorBoard
            event files stay). Not with `resume`.

    Raises:
        SketchConfigError: bad hparams or `log_root`; a fresh run over an existing run without
            `overwrite`; `resume` with a changed model-shape hparam or data; a `batch_size`
            larger than a split allows.
        SketchCheckpointError: `resume` with a missing, unreadable or broken state in a
            `log_root` that holds a run.
        SketchDataError: bad data.
    """
    hparams.validate()
    if resume and overwrite:
        raise SketchConfigError("--resume_training and --overwrite exclude each other: "
                                "resume the run, or overwrite it with a new one")
    ensure_log_root(log_root)
    found = run_files(log_root)
    config_path = os.path.join(log_root, CONFIG_NAME)
    stored = None
    has_state = False
    if resume:
        has_state = read_state_record(log_root) is not None
        if not has_state and found:
            raise SketchCheckpointError(
                f"--resume_training: {os.path.join(log_root, STATE_DIR, STATE_FILE)} is "
                f"missing, but {log_root} holds a run ({', '.join(found)}); nothing to continue "
                f"from: {START_OVER}")
        if has_state:
            if not os.path.isfile(config_path):
                raise SketchCheckpointError(
                    f"{config_path} is missing, so the saved state's hparams are unknown; put "
                    f"it back, or {START_OVER}")
            stored = hparams_lib.load_config(config_path)
            check_resume_hparams(stored, hparams, config_path)
    elif found and not overwrite:
        raise SketchConfigError(
            f"{log_root} already holds a training run ({', '.join(found)}); continue it with "
            "--resume_training, start over with --overwrite (deletes its state and best "
            "model), or choose another --log_root")
    prepared = pipeline.prepare_data(data_dir, hparams)
    check_split_sizes(prepared, data_dir)
    if stored is not None:
        check_resume_data(stored, prepared.hparams, config_path, data_dir)
    if overwrite and found:
        remove_run(log_root)
    hparams_lib.save_config(prepared.hparams, config_path)
    trainer = Trainer(prepared, log_root, save_state_steps, verbose, strategy, pictures)
    if has_state:
        trainer.restore_state()
    elif resume:
        logging.warning("--resume_training: %s holds no saved state yet; starting from scratch",
                        log_root)
    return trainer
