"""Hyperparameter search for Sketch-BERT with keras-tuner, trials trained by the project trainer.

    python -m bert_tf2.tune CONFIG.yml --tuning_dir=DIR [--key=value ...] [--max_trials=10]
        [--trial_iterations=500] [--oracle=random|bayesian] [--tuner_seed=0]
        [--num_layers_choices=4,8] [--num_heads_choices=6,12] [--hidden_size_choices=384,768]
        [--learning_rate_range=3e-5,3e-4] [--strategy=...] [--logical_cpus=N]

`--key=value` arguments override YAML keys of CONFIG.yml as in `python -m bert_tf2 train`; the
other flags are tool flags (absl). Search space (`SearchSpace`, flags override each entry):
number of layers in {4, 8}, attention heads in {6, 12}, hidden size in {384, 768} (every hidden
size must be a multiple of every head count; `layers_setting` becomes
`[[heads, hidden, 4 * hidden]] * layers`, the embedding and heads adapt to the hidden size) and
`learning_rate` log-uniform in [3e-5, 3e-4].

Objective (`objective_for`): the validation metric that decides the trainer's best checkpoint:
`val_accuracy_1` (max) with `sketchclsinput`, else `val_map` (max) with `sketchretrieval`, else
`val_total` (the validation loss, min). Each trial trains `bert_tf2.training.Trainer` in
`TUNING_DIR/sketch_bert/trial_<id>` for `--trial_iterations` iterations (the config's
`load_pretrained` applies), validates once at the end (`max_val_batches`, `eval_split` as
configured) and reports the metric; a non-finite metric makes the trial fail. The search is
resumable: keras-tuner keeps its state in `TUNING_DIR` (`overwrite=False`), so running the same
command again continues up to `--max_trials` (an interrupted trial is trained again).

At the end `TUNING_DIR/best/config.yml` is CONFIG.yml with the overrides and the best trial's
values (`bert_tf2.config.load_config` reads it; train it with `python -m bert_tf2 train
TUNING_DIR/best/config.yml`), and `best/trial.json` records the trial id, its values, the
objective and the trial folder (whose `latest/` checkpoint holds the trial's weights).
"""

import dataclasses
import itertools
import json
import math
import os

import keras_tuner
from absl import logging

from bert_tf2.config import Config, load_config
from bert_tf2.errors import BertConfigError, BertError
from bert_tf2.metrics import best_metric, write_metrics_json
from bert_tf2.training import Trainer
from sketch_common.tuning import ORACLES, best_completed_trial, make_oracle

PROJECT_NAME = "sketch_bert"
BEST_DIR = "best"
BEST_CONFIG = "config.yml"
TRIAL_FILE = "trial.json"
FEED_FORWARD_RATIO = 4


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The searched settings: a choice list each, and the learning-rate range.

    Attributes:
        num_layers: choices of the number of transformer layers.
        num_heads: choices of the number of attention heads.
        hidden_size: choices of the hidden size (multiples of every head count).
        learning_rate: `(min, max)`, sampled log-uniformly.
    """

    num_layers: tuple = (4, 8)
    num_heads: tuple = (6, 12)
    hidden_size: tuple = (384, 768)
    learning_rate: tuple = (3e-5, 3e-4)

    def hyperparameters(self) -> keras_tuner.HyperParameters:
        """The space as keras-tuner `HyperParameters`.

        Raises:
            BertConfigError: an empty choice list, a hidden size that some head count does not
                divide, or a learning-rate range that is not `0 < min < max`.
        """
        for name in ("num_layers", "num_heads", "hidden_size"):
            if not getattr(self, name):
                raise BertConfigError(f"--{name}_choices is empty: give at least one value")
        for heads, hidden in itertools.product(self.num_heads, self.hidden_size):
            if hidden % heads:
                raise BertConfigError(
                    f"hidden size {hidden} is not a multiple of {heads} heads: every hidden size "
                    "must be a multiple of every head count (--hidden_size_choices, "
                    "--num_heads_choices)")
        low, high = self.learning_rate
        if not 0 < low < high:
            raise BertConfigError(f"learning_rate range {self.learning_rate}: need 0 < MIN < "
                                  "MAX (--learning_rate_range=MIN,MAX)")
        space = keras_tuner.HyperParameters()
        for name in ("num_layers", "num_heads", "hidden_size"):
            space.Choice(name, [int(value) for value in getattr(self, name)])
        space.Float("learning_rate", low, high, sampling="log")
        return space


def config_overrides(values: dict) -> dict:
    """The YAML keys of one trial's values (`layers_setting`, `learning_rate`)."""
    layer = [values["num_heads"], values["hidden_size"], FEED_FORWARD_RATIO * values["hidden_size"]]
    return {"layers_setting": [list(layer) for _ in range(values["num_layers"])],
            "learning_rate": float(values["learning_rate"])}


def objective_for(task_types) -> keras_tuner.Objective:
    """`val_<metric>` of `metrics.best_metric`, maximised for metrics, minimised for loss."""
    key, higher = best_metric(task_types)
    return keras_tuner.Objective(f"val_{key}", direction="max" if higher else "min")


class SketchBertTuner(keras_tuner.Tuner):
    """Runs each trial with the Sketch-BERT trainer and reports its validation metric.

    Args:
        oracle: a keras-tuner oracle over `SearchSpace.hyperparameters()` with the objective of
            `objective_for`.
        config_path: the base YAML config.
        overrides: dict of YAML keys applied before the trial's values.
        trial_iterations: training iterations per trial.
        strategy: `tf.distribute.Strategy` of the trials, or None.
        **kwargs: `keras_tuner.Tuner` arguments (`directory`, `project_name`, `overwrite`).
    """

    def __init__(self, oracle, config_path: str, overrides: dict, trial_iterations: int,
                 strategy=None, **kwargs):
        super().__init__(oracle=oracle, **kwargs)
        self.config_path = config_path
        self.overrides = dict(overrides)
        self.trial_iterations = trial_iterations
        self.strategy = strategy

    def trial_config(self, trial) -> Config:
        """The config of a trial as a full run would use it (no trial-length settings)."""
        return load_config(self.config_path,
                           {**self.overrides, **config_overrides(trial.hyperparameters.values)})

    def run_trial(self, trial, *args, **kwargs) -> dict:
        """Trains `trial_iterations` iterations, validates; returns `{objective: value}`.

        Raises:
            keras_tuner.errors.FailedTrialError: a non-finite objective (the search goes on).
            keras_tuner.errors.FatalError: a `BertError` (bad data, settings or checkpoint,
                which every trial would hit; the search stops).
        """
        name = self.oracle.objective.name
        logging.info("Trial %s: %s", trial.trial_id, trial.hyperparameters.values)
        try:
            config = self.trial_config(trial)
            iterations = self.trial_iterations
            config["stop_at_num_iterations"] = True
            config["num_iterations"] = iterations
            config["checkpoint_every"] = iterations
            config["save_model_every"] = iterations + 1
            trainer = Trainer(config, output_dir=self.get_trial_dir(trial.trial_id),
                              strategy=self.strategy)
            value = trainer.train()["val"].get(name[len("val_"):])
        except BertError as error:
            raise keras_tuner.errors.FatalError(str(error)) from error
        if value is None or not math.isfinite(value):
            raise keras_tuner.errors.FailedTrialError(
                f"trial {trial.trial_id}: validation {name} is {value}")
        return {name: float(value)}


def make_tuner(config_path: str, overrides: dict, tuning_dir: str, space: SearchSpace,
               max_trials: int, trial_iterations: int, oracle: str = "random", seed: int = 0,
               strategy=None) -> SketchBertTuner:
    """A `SketchBertTuner` whose state lives in `tuning_dir` (reloaded when present).

    Args:
        oracle: 'random' (RandomSearch) or 'bayesian' (BayesianOptimization).
        seed: seed of the oracle.
        Other arguments: see `SketchBertTuner` and `SearchSpace`.

    Raises:
        BertConfigError: a bad space or oracle, or an unreadable config.
    """
    if oracle not in ORACLES:
        raise BertConfigError(f"--oracle={oracle!r} is not one of {sorted(ORACLES)}")
    base = load_config(config_path, overrides)
    search = make_oracle(oracle, objective_for(base.task_types), max_trials,
                         space.hyperparameters(), seed)
    return SketchBertTuner(search, config_path, overrides, trial_iterations, strategy,
                           directory=tuning_dir, project_name=PROJECT_NAME, overwrite=False)


def write_best(tuner: SketchBertTuner, tuning_dir: str) -> str:
    """Writes `tuning_dir/best/config.yml` and `trial.json`; returns the folder.

    Raises:
        BertConfigError: no trial has completed.
    """
    trial = best_completed_trial(tuner.oracle)
    if trial is None:
        raise BertConfigError(f"{tuning_dir}: no completed trial; see the failed trials' "
                              "messages in the log and run the search again")
    best_dir = os.path.join(tuning_dir, BEST_DIR)
    tuner.trial_config(trial).save(os.path.join(best_dir, BEST_CONFIG))
    record = {"trial_id": trial.trial_id, "hyperparameters": trial.hyperparameters.values,
              tuner.oracle.objective.name: trial.score,
              "trial_dir": tuner.get_trial_dir(trial.trial_id),
              "trial_iterations": tuner.trial_iterations}
    write_metrics_json(os.path.join(best_dir, TRIAL_FILE), record)
    return best_dir


def best_summary(tuner: SketchBertTuner, best_dir: str) -> str:
    """What the command prints after a search: the best trial and how to train its config."""
    with open(os.path.join(best_dir, TRIAL_FILE), encoding="utf-8") as handle:
        record = json.load(handle)
    name = tuner.oracle.objective.name
    return (f"Best trial {record['trial_id']}: {name} {record[name]:.4f} with "
            f"{record['hyperparameters']}\n"
            f"Best configuration: {os.path.abspath(os.path.join(best_dir, BEST_CONFIG))}. Train "
            f"it: python -m bert_tf2 train {os.path.join(best_dir, BEST_CONFIG)}")


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_tune")
