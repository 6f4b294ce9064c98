"""The Sketch-BERT trainer (upstream `SketchTransformerTrainer`, spec §4), in TF2 / Keras 3.

`Trainer(config)` builds the model and the data pipelines, restores weights according to
`load_pretrained` / `which_pretrained`, and offers `train()` and `validate()`.

Behaviour kept from the original: one PyTorch-style Adam (`TorchAdam`, lr `learning_rate`,
betas 0.9/0.999, eps 1e-8; per-parameter, so equal to upstream's one Adam per network), no
schedule or clipping; `num_epoch` passes of `len(train) // batch_size` iterations; every
`print_every` iterations the training losses are logged; every `checkpoint_every` iterations a
validation pass and the `latest` checkpoint (+ `best`); every `save_model_every` iterations
`iter_<t>`; TensorBoard scalars `train_<term>` / `val_<term>` at step `t`.

Fixes (spec §7), each switchable where the original behaviour may be wanted:

* B11: evaluation runs with dropout off (`dropout_in_eval: True` restores upstream).
* B14: `continue` restores the iteration / epoch counters and the best-model record.
* B17: "best" tracks `accuracy_1` (classification), else `map` (retrieval), else the lowest
  validation total loss (maskrec), with strict improvement.
* B12 / B31: `max_val_batches` caps validation; `eval_split` chooses the evaluated split.
* B13: `stop_at_num_iterations: True` stops after `num_iterations` iterations.
* B28: retrieval metrics are vectorised; classes with one item are left out of the mAP.

Output folder: `<log_root>/<trainer>/<log_dir>` (no time stamp, so `continue` finds it):
checkpoint directories `latest/`, `best/`, `iter_<t>/` (native layout of `bert_tf2.checkpoint`
plus `optimizer.npz` with the Adam moments keyed by original state-dict names) and TensorBoard
event files: the scalars, the config (HParams dashboard) once per `train()`, and at each
validation with `maskrec` the image `val_reconstructions` (`num_display_samples` validation
sketches: original | masked input | masked entries filled with the prediction).

Distributed training (`strategy`, see `sketch_common.distribute`): model and optimizer are
created in `strategy.scope()`; each iteration splits the global batch of `batch_size` sketches
over the R replicas, runs the step with `strategy.run` and sums the replicas' loss shares, whose
gradients the optimizer sums. Every loss term is a mean over some selection of the batch (masked
offsets, masked pen rows, anchors), so each replica's term is weighted by its share of the
selection, `n_r / N` (N all-reduced over the replicas): the summed shares equal the single-device
term on the global batch and so do the gradients. The distributed step runs as a graph without
XLA; validation runs on one device with the mirrored weights.
"""

import contextlib
import functools
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf2 import checkpoint as checkpoint_lib
from bert_tf2.convert import checkpoint_task_types
from bert_tf2.data import pipeline
from bert_tf2.errors import BertCheckpointError, BertConfigError
from bert_tf2.losses import LossSettings, compute_losses
from bert_tf2.metrics import best_metric, classification_topk, retrieval_metrics
from bert_tf2.model import build_model
from bert_tf2.optimizer_state import (OPTIMIZER_FILE, optimizer_arrays, restore_optimizer_state,
                                      write_arrays)
from bert_tf2.optimizers import TorchAdam
from bert_tf2.train_step import model_inputs, train_step
from bert_tf2.pictures import reconstruction_grid
from bert_tf2.state_dicts import ENCODER_STATE, export_state_dicts, import_state_dicts
from bert_tf2.torch_checkpoint import load_torch_checkpoint
from sketch_common import distribute
from sketch_common.jit_compile import resolve_jit_compile
from sketch_common.progress import progress_bar
from sketch_common.tensorboard import hparams_summary_values, scalar_metadata

LOAD_MODES = ("scratch", "continue", "pretrained")
PRETRAINED_SELECTORS = ("enc_net", "enc_opt", "task_net", "task_opt")


def _anchor(value, triplet):
    return value[0] if triplet else value


class Trainer:
    """Builds data, model and optimizer from a config; trains, validates, checkpoints.

    Args:
        config: a `bert_tf2.config.Config` with the original keys (+ `PORT_DEFAULTS`).
        output_dir: where checkpoints and events go (default
            `<log_root>/<trainer>/<log_dir>`).
        strategy: a `tf.distribute.Strategy` (see the module docstring), or None for the
            single-device XLA step.

    Raises:
        BertConfigError: unsupported or inconsistent settings (also a `batch_size` that is not
            a multiple of the strategy's replicas).
        BertCheckpointError / BertDataError: unreadable checkpoint or data.
    """

    def __init__(self, config, output_dir=None, strategy=None):
        self.config = config
        self.strategy = strategy
        if config.load_pretrained not in LOAD_MODES:
            raise BertConfigError(f"load_pretrained '{config.load_pretrained}' is not one of "
                                  f"{LOAD_MODES}")
        unknown = [s for s in config.which_pretrained or () if s not in PRETRAINED_SELECTORS]
        if unknown:
            raise BertConfigError(f"which_pretrained {unknown}: supported selectors are "
                                  f"{PRETRAINED_SELECTORS}")
        pipeline.check_config(config)
        self.output_dir = output_dir or os.path.join(config.log_root, config.trainer,
                                                     config.log_dir)
        self.triplet = config.get_type == "triplet"
        self.task_types = list(config.task_types)
        self.settings = LossSettings.from_config(config)
        self.weights = {"mask_axis": config.mask_axis_weight, "rec_axis": config.rec_axis_weight,
                        "mask_type": config.mask_type_weight, "rec_type": config.rec_type_weight,
                        "prediction": config.prediction_weight,
                        "triplet": config.triplet_weight}
        if strategy is not None:
            self._check_strategy(strategy)
        keras.utils.set_random_seed(int(config.seed))
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.model = build_model(config)
            self.variables = list(self.model.trainable_variables)
            self.optimizer = TorchAdam(learning_rate=float(config.learning_rate))
            self.optimizer.build(self.variables)
        self.iteration = 0  # completed training iterations (upstream counter t - 1)
        self.best = {"t": 0, "metric": None}
        self.restored = None  # {'path', 'which', 'fresh_heads'} after `restore`
        self._train_sketches = None
        self._eval_data = {}
        jit_compile = resolve_jit_compile(config.jit_compile)
        if strategy is None:
            self._train_step = tf.function(self._train_step_fn, jit_compile=jit_compile)
        else:
            self._train_step = tf.function(self._distributed_train_step_fn)
        self._eval_step = tf.function(self._eval_step_fn, jit_compile=jit_compile)
        self._writer = None
        if config.load_pretrained != "scratch":
            self.restore(config.restore_checkpoint_path, list(config.which_pretrained or ()),
                         restore_counters=config.load_pretrained == "continue")

    def _check_strategy(self, strategy):
        replicas = strategy.num_replicas_in_sync
        config = self.config
        if config.batch_size % replicas:
            raise BertConfigError(
                f"batch_size {config.batch_size} is not a multiple of the {replicas} replicas "
                f"of the strategy; use a multiple of {replicas}")
        dropouts = (config.attention_dropout_prob, config.hidden_dropout_prob,
                    config.output_dropout_prob)
        if any(float(value) > 0 for value in dropouts):
            logging.warning(
                "Dropout under a %d-replica strategy: every replica draws its masks from the "
                "same seed, so they differ from a single-device run's masks on the global batch "
                "(the loss trajectories then agree only statistically)", replicas)

    # ------------------------------------------------------------------ compiled steps

    def _train_step_fn(self, batch):
        """One optimizer step on `batch` (with a strategy: this replica's slice).

        Returns:
            `(total, terms)`; with a strategy, this replica's shares (see `_loss_shares`).
        """
        share_terms = None
        if self.strategy is not None:
            share_terms = functools.partial(self._loss_shares, batch=batch)
        return train_step(self.model, self.optimizer, self.variables, batch, self.settings,
                          share_terms)

    def _selection_sizes(self, batch):
        """How many elements each loss term of this replica averages over (as `losses.py`).

        Returns:
            {term: float32 scalar}: masked / kept offset entries (`mask_axis` / `rec_axis`),
            masked / kept pen rows (`mask_type` / `rec_type`), anchors (`prediction`,
            `triplet`).
        """
        mask = tf.cast(_anchor(batch["mask"], len(batch["stroke"].shape) == 4), tf.float32)
        axis_masked = tf.gather(mask, list(self.settings.axis_columns), axis=-1) == 0
        type_masked = mask[..., 2] == 0

        def count(selected):
            return tf.reduce_sum(tf.cast(selected, tf.float32))

        anchors = tf.cast(tf.shape(mask)[0], tf.float32)
        return {"mask_axis": count(axis_masked), "rec_axis": count(~axis_masked),
                "mask_type": count(type_masked), "rec_type": count(~type_masked),
                "prediction": anchors, "triplet": anchors}

    def _loss_shares(self, terms, batch):
        """Each term's share of its global-batch value: `term_r · n_r / N`.

        `n_r` is the size of the selection the replica's term averages over, N its all-reduced
        sum; the shares of all replicas add up to the term computed on the global batch (a term
        over an empty selection is 0 and has no share).
        """
        sizes = self._selection_sizes(batch)
        local = tf.stack([sizes[key] for key in terms])
        totals = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)
        fractions = local / tf.maximum(totals, 1.0)
        return {key: value * fractions[index] for index, (key, value) in enumerate(terms.items())}

    def _distributed_train_step_fn(self, batches):
        total, terms = self.strategy.run(self._train_step_fn, args=(batches,))
        reduce = functools.partial(self.strategy.reduce, tf.distribute.ReduceOp.SUM, axis=None)
        return reduce(total), {key: reduce(value) for key, value in terms.items()}

    def _batch_axes(self):
        """Batch axis of every batch key (1 behind the triplet member axis; `valid` 0)."""
        if not self.triplet:
            return {}
        return {key: 1 for key in ("mask_input", "stroke", "segment", "length_mask", "mask",
                                   "target", "index")}

    def _eval_step_fn(self, batch):
        outputs = self.model(model_inputs(batch),
                             training=bool(self.config.dropout_in_eval))
        total, terms = compute_losses(outputs, batch, self.settings)
        return outputs, total, terms

    # ------------------------------------------------------------------ restore / save

    def restore(self, path, which, restore_counters=False):
        """Loads weights (and optimizer state) from a native checkpoint dir or a `.pth.tar`.

        Args:
            path: `restore_checkpoint_path`.
            which: selectors `enc_net` (encoder, position rows re-aligned to this run's tokens),
                `task_net` (heads present in the checkpoint), `enc_opt` / `task_opt` (Adam
                moments of encoder / heads; native checkpoints only).
            restore_counters: also restore iteration, epoch and best record (`continue`).
        """
        if restore_counters:
            for leftover in checkpoint_lib.recover_checkpoint(path):
                logging.warning("%s: left by an interrupted save; recovered or removed", leftover)
        if os.path.isdir(path):
            metadata = checkpoint_lib.check_checkpoint(path)
            saved_config, saved_model = checkpoint_lib.load_checkpoint(path)
            states, pre_tasks = export_state_dicts(saved_model), list(saved_config.task_types)
        elif os.path.isfile(path):
            torch_checkpoint = load_torch_checkpoint(path)
            states = {key: value for key, value in torch_checkpoint.items()
                      if key == ENCODER_STATE or (key.startswith("net_")
                                                  and key.endswith("_state"))}
            pre_tasks = checkpoint_task_types(torch_checkpoint, path)
            metadata = {"counters": torch_checkpoint.get("counters", {}),
                        "best_t": torch_checkpoint.get("best_t", 0)}
        else:
            raise BertCheckpointError(
                f"restore_checkpoint_path {path} does not exist; point it at a checkpoint "
                "directory written by the trainer or the converter, or at a .pth.tar")
        own_states = export_state_dicts(self.model)
        selected = {ENCODER_STATE: states[ENCODER_STATE] if "enc_net" in which
                    else own_states[ENCODER_STATE]}
        if "task_net" in which:
            selected.update({key: value for key, value in states.items()
                             if key != ENCODER_STATE})
        summary = import_state_dicts(
            self.model, selected, self.task_types,
            pre_tasks if "enc_net" in which else self.task_types, source=str(path))
        logging.info("restored %s from %s (fresh heads: %s)", which, path,
                     summary.fresh_heads if "task_net" in which else "all (task_net not set)")
        wanted_opt = [s for s in ("enc_opt", "task_opt") if s in which]
        if wanted_opt:
            self._restore_optimizer(path, wanted_opt)
        self.restored = {"path": str(path), "which": list(which),
                         "fresh_heads": list(summary.fresh_heads) if "task_net" in which
                         else list(self.task_types)}
        if restore_counters:
            self.iteration = int(metadata.get("counters", {}).get("t", 0))
            self.best = {"t": int(metadata.get("best_t", 0)),
                         "metric": metadata.get("best_metric")}
            logging.info("continuing after iteration %d", self.iteration)

    def _restore_optimizer(self, path, which):
        restore_optimizer_state(path, self.model, self.optimizer, which)

    def _epoch_or_none(self):
        sketches = self._train_sketches
        if sketches is None or len(sketches) < self.config.batch_size:
            return None
        return self.epoch(len(sketches) // self.config.batch_size)

    def save(self, name):
        """Writes checkpoint directory `<output_dir>/<name>` atomically as a whole.

        Raises:
            BertCheckpointError: the directory cannot be written; the previous one is kept.
        """
        directory = os.path.join(self.output_dir, name)
        sketches = self._train_sketches
        arrays = optimizer_arrays(self.model, self.optimizer)
        checkpoint_lib.save_checkpoint(directory, self.model, self.config, metadata={
            "counters": {"t": self.iteration, "epoch": self._epoch_or_none()},
            "best_t": self.best["t"],
            "best_metric": self.best["metric"],
            "class_names": list(sketches.class_names) if sketches is not None else None,
        }, extra_files={OPTIMIZER_FILE: functools.partial(write_arrays, arrays=arrays)})
        logging.info("saved checkpoint %s (iteration %d)", directory, self.iteration)
        return directory

    # ------------------------------------------------------------------ logging

    def _summary_writer(self):
        if self._writer is None:
            os.makedirs(self.output_dir, exist_ok=True)
            self._writer = tf.summary.create_file_writer(self.output_dir)
        return self._writer

    def _scalars(self, mode, values, step):
        with self._summary_writer().as_default():
            for key, value in values.items():
                tf.summary.write(f"{mode}_{key}", tf.constant(float(value), tf.float32),
                                 step=step, metadata=scalar_metadata())
        self._writer.flush()

    def write_hparams(self):
        """The config (and replica count) for TensorBoard's HParams dashboard."""
        from tensorboard.plugins.hparams import api as hparams_api

        values = hparams_summary_values(self.config.to_dict())
        values["replicas"] = self.strategy.num_replicas_in_sync if self.strategy else 1
        with self._summary_writer().as_default():
            hparams_api.hparams(values, trial_id=os.path.basename(self.output_dir))
        self._writer.flush()

    def _reconstruction_image(self, examples, step):
        """Writes the `val_reconstructions` image of `(stroke, mask, prediction, rows)` lists."""
        grid = reconstruction_grid(examples)
        with self._summary_writer().as_default():
            tf.summary.image("val_reconstructions", grid[None, :, :, None], step=step,
                             description="original | masked input | reconstruction")
        self._writer.flush()

    # ------------------------------------------------------------------ validation

    def _valid_losses(self):
        return [key for key, weight in self.weights.items() if weight > 0]

    def validate(self, split=None):
        """One pass over the evaluation split; returns losses and metrics (floats).

        Losses: the terms with weight > 0 (upstream's "valid losses"), averaged over batches
        weighted by their number of real examples, plus `total`. The final batch is padded to
        the fixed batch size with copies of item 0 (static shapes for XLA); its loss terms
        include those copies, while the metrics use real examples only. Metrics: `accuracy_1/5`
        with `sketchclsinput`, `retrieval_1/5/10` and `map` with `sketchretrieval` (anchors).
        """
        dataset, sketches = self._eval_split(split)
        max_batches = int(self.config.max_val_batches or 0)
        if max_batches > 0:
            dataset = dataset.take(max_batches)
        steps = -(-len(sketches) // self.config.batch_size)
        steps = min(steps, max_batches) if max_batches > 0 else steps
        progbar = progress_bar(steps, "val batch")
        sums, count = {}, 0.0
        logits, features, labels = [], [], []
        displayed = []
        for step, batch in enumerate(dataset, start=1):
            outputs, total, terms = self._eval_step(batch)
            valid = batch["valid"].numpy() > 0
            if "maskrec" in outputs:
                displayed.extend(self._display_examples(batch, outputs["maskrec"], valid,
                                                        len(displayed)))
            weight = float(valid.sum())
            count += weight
            for key, value in {"total": total, **terms}.items():
                sums[key] = sums.get(key, 0.0) + weight * float(value)
            target = _anchor(batch["target"].numpy(), self.triplet)[valid]
            labels.append(target)
            if "sketchclsinput" in outputs:
                logits.append(_anchor(outputs["sketchclsinput"].numpy(), self.triplet)[valid])
            if "sketchretrieval" in outputs:
                features.append(_anchor(outputs["sketchretrieval"].numpy(), self.triplet)[valid])
            progbar.update(step)
        results = {key: value / max(count, 1.0) for key, value in sums.items()
                   if key == "total" or key in self._valid_losses()}
        labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        if logits:
            results.update(classification_topk(np.concatenate(logits), labels))
        if features:
            results.update(retrieval_metrics(np.concatenate(features), labels))
        logging.info("Validate Iter [%d]: %s", self.iteration,
                     ", ".join(f"[val_{k}]:{v:.4f}" for k, v in results.items()))
        self._scalars("val", results, self.iteration)
        if displayed:
            self._reconstruction_image(displayed, self.iteration)
        return results

    def _eval_split(self, split=None):
        """(dataset, sketches) of an evaluation split (`eval_split` by default), built once."""
        split = split or self.config.eval_split
        if split not in self._eval_data:
            self._eval_data[split] = pipeline.eval_dataset(self.config, split)
        return self._eval_data[split]

    def _display_examples(self, batch, prediction, valid, shown):
        """Up to `num_display_samples - shown` real examples of a batch for the image."""
        wanted = int(self.config.get("num_display_samples", 0) or 0) - shown
        if wanted <= 0:
            return []
        stroke, mask, length_mask = (_anchor(batch[key].numpy(), self.triplet)
                                     for key in ("stroke", "mask", "length_mask"))
        prediction = np.asarray(_anchor(prediction.numpy(), self.triplet), np.float32)
        tokens = length_mask.shape[1] - stroke.shape[1]
        rows = length_mask.sum(axis=1).astype(np.int64) - tokens
        return [(stroke[i], mask[i], prediction[i], int(rows[i]))
                for i in np.flatnonzero(valid)[:wanted]]

    def _is_best(self, results):
        key, higher = best_metric(self.task_types)
        value = results.get(key)
        if value is None:
            return False
        previous = self.best["metric"]
        improved = previous is None or (value > previous if higher else value < previous)
        if improved:
            self.best = {"t": self.iteration, "metric": float(value)}
        return improved

    def _checkpoint(self):
        results = self.validate()
        # best/ before latest/: a kill in between resumes from the previous latest/ and
        # writes the same best/ again, never leaving a latest/ whose best record is unsaved.
        if self._is_best(results):
            self.save("best")
        self.save("latest")
        return results

    # ------------------------------------------------------------------ training

    def train(self):
        """Runs the remaining iterations of `num_epoch` epochs; returns the final metrics dict.

        The dict holds the last validation results (one is run after the last iteration when
        it did not coincide with a checkpoint), the last training losses and the counters.
        """
        config = self.config
        dataset, sketches = pipeline.train_dataset(config, skip_batches=self.iteration)
        if self.strategy is not None:
            dataset = distribute.distribute_batches(
                self.strategy, lambda: dataset,
                functools.partial(distribute.shard_batch, axes=self._batch_axes()))
        self._train_sketches = sketches
        steps_per_epoch = len(sketches) // config.batch_size
        if steps_per_epoch == 0:
            raise BertConfigError(
                f"batch_size {config.batch_size} exceeds the {len(sketches)} training sketches; "
                "lower batch_size or add data")
        self._eval_split()  # bad or empty evaluation data fails now, not after an epoch
        self.write_hparams()
        last_t = config.num_epoch * steps_per_epoch
        if config.stop_at_num_iterations:
            last_t = min(last_t, config.num_iterations)
        iterator = iter(dataset)
        last_losses, results, validated_at, progbar = {}, {}, None, None
        start_time = time.time()
        for t in range(self.iteration + 1, last_t + 1):
            epoch, step = (t - 1) // steps_per_epoch + 1, (t - 1) % steps_per_epoch + 1
            if progbar is None or step == 1:
                logging.info("epoch %d/%d", epoch, config.num_epoch)
                progbar = progress_bar(steps_per_epoch, "iter")
            total, terms = self._train_step(next(iterator))
            self.iteration = t
            last_losses = {"total": float(total), **{k: float(v) for k, v in terms.items()}}
            progbar.update(step, values=list(last_losses.items()))
            if t % config.print_every == 0:
                logging.info(
                    "Train Epoch %d, Time:%.3f, Total Iter [%d/%d], [%d/%d]:Losses:%s", epoch,
                    time.time() - start_time, t, config.num_iterations, step, steps_per_epoch,
                    ", ".join(f"[train_{k}]:{v:.4f}" for k, v in last_losses.items()))
                self._scalars("train", last_losses, t)
            if t % config.checkpoint_every == 0:
                results, validated_at = self._checkpoint(), t
            if t % config.save_model_every == 0:
                self.save(f"iter_{t}")
        if self.iteration > 0 and validated_at != self.iteration:
            results = self._checkpoint()
        return {"val": results, "train": last_losses, "iteration": self.iteration,
                "epoch": self.epoch(steps_per_epoch), "best_t": self.best["t"],
                "best_metric": self.best["metric"]}

    def epoch(self, steps_per_epoch):
        """1-based epoch of the next iteration."""
        return self.iteration // steps_per_epoch + 1

