"""The SketchGloc training loop: upstream's epochs, validation and early stopping, XLA-compiled.

Upstream semantics kept (spec §4): Adam with TF1 defaults (epsilon 1e-8); every gradient clipped
to norm `grad_clip` on its own; the learning rate `(lr - min_lr) · decay_rate^1 + min_lr`, constant
because upstream never advances its step counter (`lr_decay=True` makes it decay per step);
epochs of `ceil(M/B) - 1` shuffled batches; validation every `save_every` epochs on the clean
validation batches with the evaluation model (z = μ, batch norm on moving statistics, pen loss
masked); a checkpoint at each improvement; early stop after 5 validations without improvement.

What the port adds: `num_steps` is honoured as an upper bound; the resumable training state
(weights, optimizer, random-generator states, epoch, step, best loss, patience) is saved at each
epoch end and every `save_state_steps` steps, and `resume=True` continues exactly where the run
stopped; every file is written atomically; a non-finite loss stops the run with a clear message
and the last good checkpoint intact; TensorBoard scalars `Train_Cost`, `Valid_Cost`, `Test_Cost`,
`Learning_Rate` under `log_root`, and the hparams (HParams dashboard) once per run; a progress
bar; at each new best a PNG grid of reconstructions, also logged as the TensorBoard image
`Reconstructions`.

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
`state/` (the resumable state), `reconstructions/epoch_<e>.png`, TensorBoard event files.
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
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import CONFIG_NAME, WEIGHTS_NAME
from sketchgloc_tf2.data import pipeline
from sketchgloc_tf2.errors import SketchError
from sketchgloc_tf2.model import BATCH_KEYS, SketchGlocModel

PATIENCE = 5
MAX_EPOCHS = 100000
LOG_EVERY_STEPS = 20
RECONSTRUCTIONS_SHOWN = 8
STATE_DIR = "state"
STATE_FILE = "training_state.json"


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
    temporary = path + ".partial.weights.h5"
    model.save_weights(temporary)
    os.replace(temporary, path)


def atomic_savez(path: str, **arrays) -> None:
    """`numpy.savez` through a temporary file and a rename."""
    temporary = path + ".partial.npz"
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


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

    def save_state(self) -> None:
        """Writes the resumable state: a new checkpoint, then the JSON pointer to it (atomic)."""
        state_dir = self._state_dir()
        os.makedirs(state_dir, exist_ok=True)
        prefix = self.checkpoint.write(os.path.join(state_dir, f"ckpt-{self.progress.count}"))
        record = dataclasses.asdict(self.progress)
        record["checkpoint"] = os.path.basename(prefix)
        hparams_lib.atomic_write_text(os.path.join(state_dir, STATE_FILE),
                                      json.dumps(record, indent=1))
        for name in os.listdir(state_dir):
            if name.startswith("ckpt-") and not name.startswith(record["checkpoint"] + "."):
                os.remove(os.path.join(state_dir, name))

    def restore_state(self) -> bool:
        """Restores the last saved state; returns False when `log_root` has none."""
        path = os.path.join(self._state_dir(), STATE_FILE)
        if not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        self.checkpoint.read(os.path.join(self._state_dir(), record.pop("checkpoint"))
                             ).assert_existing_objects_matched()
        self.progress = Progress(**record)
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
        atomic_save_weights(self.model, os.path.join(self.log_root, WEIGHTS_NAME))
        atomic_savez(os.path.join(self.log_root, "para.npz"), best_valid_loss=valid_loss,
                     epoch=progress.epoch, count=progress.count)
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
        path = os.path.join(self.log_root, "reconstructions", f"epoch_{self.progress.epoch}.png")
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
        if math.isfinite(loss):
            return
        progress = self.progress
        raise TrainingDivergedError(
            f"training loss is {loss} at epoch {progress.epoch}, step {progress.step_in_epoch} "
            f"({progress.count} steps in all); stopped without saving. The last good best model "
            f"({os.path.join(self.log_root, WEIGHTS_NAME)}, epoch {progress.best_epoch}) and "
            f"resume state ({self._state_dir()}) are intact. Lower learning_rate or grad_clip "
            f"and continue with --resume_training.")

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
        progbar = keras.utils.Progbar(num_batches, verbose=1 if self.verbose else 0,
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
        """Trains until early stopping, `num_steps` or `MAX_EPOCHS`; returns the final counters."""
        hparams, progress = self.hparams, self.progress
        if self.train_batcher.num_train_batches(hparams.batch_size) == 0:
            raise SketchError(
                f"{len(self.train_batcher)} training sketches make no batch of "
                f"batch_size={hparams.batch_size}; lower batch_size or add data")
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
              pictures: bool = True) -> Trainer:
    """Prepares data, writes `model_config.json` and builds a `Trainer` (restored if `resume`).

    On resume, `log_root/model_config.json` provides the hparams (the caller applies command-line
    overrides before); the sizes are recomputed from the data as upstream does. `strategy` and
    `pictures` are passed to `Trainer`.
    """
    os.makedirs(log_root, exist_ok=True)
    prepared = pipeline.prepare_data(data_dir, hparams)
    hparams_lib.save_config(prepared.hparams, os.path.join(log_root, CONFIG_NAME))
    trainer = Trainer(prepared, log_root, save_state_steps, verbose, strategy, pictures)
    if resume and not trainer.restore_state():
        logging.warning("--resume_training: no saved state in %s; starting from scratch",
                        log_root)
    elif not resume and os.path.isdir(trainer._state_dir()):
        shutil.rmtree(trainer._state_dir())
    return trainer
