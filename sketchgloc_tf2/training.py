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
bar (plain, one line per epoch, when stdout is not a terminal); at each new best the `on_best`
callbacks (`train.py` passes `pictures.TrainingReconstructions`: a PNG grid of reconstructions,
also logged as the TensorBoard image `Reconstructions`). The optimizer is in `optimizers.py`, the
run folder's files and their checks in `run_state.py`.

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
validation, test and the `on_best` callbacks run on one device with the mirrored weights.

Files under `log_root`: `model_config.json` and `model.weights.h5` (the best model: together they
are a CHECKPOINT_DIR every tool accepts), `para.npz` (upstream's best loss, epoch and step count),
`state/` (the resumable state: `training_state.json`, the progress counters and the name of the
checkpoint folder `ckpt-<count>/` beside it), `reconstructions/epoch_<e>.png`, TensorBoard event
files.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sketch_common import distribute
from sketch_common.atomic_io import atomic_path, write_text
from sketch_common.errors import one_line
from sketch_common.progress import progress_bar
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.checkpoint import CONFIG_NAME, WEIGHTS_NAME, save_weights
from sketchgloc_tf2.data import pipeline
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchError
from sketchgloc_tf2.model import BATCH_KEYS, SketchGlocModel
from sketchgloc_tf2.optimizers import make_optimizer
from sketchgloc_tf2.run_state import (
    CHECKPOINT_PREFIX,
    PARA_NAME,
    PARTIAL_SUFFIX,
    START_OVER,
    STATE_DIR,
    STATE_FILE,
    Progress,
    check_best_model,
    check_checkpoint_files,
    check_resume_data,
    check_resume_hparams,
    check_split_sizes,
    ensure_log_root,
    read_state_record,
    remove_path,
    remove_run,
    run_files,
    stale_state_entries,
    state_error,
)
from sketchgloc_tf2.train_step import train_step

PATIENCE = 5
MAX_EPOCHS = 100000
LOG_EVERY_STEPS = 20


class TrainingDivergedError(SketchError, RuntimeError):
    """The training loss became NaN or infinite."""


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
        on_best: callables `f(trainer)` run after each new best model is saved (e.g.
            `pictures.TrainingReconstructions`, which draws the reconstruction grid).

    Attributes:
        train_losses: the loss of every training step run by this trainer, in order.
        train_step: the compiled step: global batch dict (or, with a strategy, the per-replica
            batches of `distribute.distribute_batches`) -> scalar global-batch loss.

    Raises:
        SketchConfigError: `batch_size` is not a multiple of the strategy's replicas.
    """

    def __init__(self, prepared: pipeline.PreparedData, log_root: str,
                 save_state_steps: int = 500, verbose: bool = True, strategy=None,
                 on_best=()):
        self.prepared = prepared
        self.on_best = list(on_best or ())
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
        if self.strategy is None:
            return train_step(self.model, self.optimizer, batch)
        eps = distribute.replica_rows(self.global_noise(self.model.seed_generator.next()))
        return train_step(self.model, self.optimizer, batch, eps,
                          loss_scale=self.replica_batch_size / self.hparams.batch_size)

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
            write_text(os.path.join(state_dir, STATE_FILE),
                                          json.dumps(record, indent=1))
        except (OSError, tf.errors.OpError) as error:
            raise SketchCheckpointError(
                f"could not save the training state in {state_dir} ({one_line(error)}); the "
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
            raise state_error(", ".join(data_files),
                               f"is truncated or corrupt ({one_line(error)})") from error
        except (AssertionError, ValueError) as error:
            raise SketchCheckpointError(
                f"{prefix}: the saved state does not match the model of "
                f"{os.path.join(self.log_root, CONFIG_NAME)} ({one_line(error)}); resume "
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
            save_weights(self.model, os.path.join(self.log_root, WEIGHTS_NAME))
            with atomic_path(os.path.join(self.log_root, PARA_NAME)) as temporary:
                np.savez(temporary, best_valid_loss=valid_loss, epoch=progress.epoch,
                         count=progress.count)
        except OSError as error:
            raise SketchCheckpointError(
                f"could not save the best model in {self.log_root} ({one_line(error)}); the "
                "previous best model and the training state are intact: free disk space or "
                "fix the folder's permissions, then continue with --resume_training"
            ) from error
        logging.info("Saved the best model of epoch %d (valid loss %.4f) in %.2fs",
                     progress.epoch, valid_loss, time.time() - start)
        for callback in self.on_best:
            callback(self)
        test_loss = self.evaluate(self.test_batcher)
        logging.info("Test_cost: %.4f", test_loss)
        self._write_scalar("Test_Cost", test_loss, progress.count)

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
        progbar = progress_bar(num_batches, "step", verbose=self.verbose)
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


def start_run(data_dir: str, log_root: str, hparams: hparams_lib.HParams, resume: bool = False,
              save_state_steps: int = 500, verbose: bool = True, strategy=None,
              on_best=(), overwrite: bool = False) -> Trainer:
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
        save_state_steps, verbose, strategy, on_best: see `Trainer`.
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
    trainer = Trainer(prepared, log_root, save_state_steps, verbose, strategy, on_best)
    if has_state:
        trainer.restore_state()
    elif resume:
        logging.warning("--resume_training: %s holds no saved state yet; starting from scratch",
                        log_root)
    return trainer
