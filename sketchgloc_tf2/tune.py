"""Hyperparameter search for SketchGloc with keras-tuner, each trial trained by the project trainer.

    python -m sketchgloc_tf2.tune --data_dir=DIR --tuning_dir=DIR [--max_trials=10]
        [--trial_steps=500] [--oracle=random|bayesian] [--tuner_seed=0]
        [--enc_rnn_size_choices=128,256,512] [--dec_rnn_size_choices=256,512,1024]
        [--z_size_choices=64,128,256] [--learning_rate_range=1e-4,3e-3]
        [--re_scale_choices=0.0,0.1,0.3] [--hparams=... / any train.py hparam flag]
        [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]

Search space (`SearchSpace`, flags override each entry): `enc_rnn_size` in {128, 256, 512},
`dec_rnn_size` in {256, 512, 1024}, `z_size` in {64, 128, 256}, `learning_rate` log-uniform in
[1e-4, 3e-3]; `re_scale` only when `--re_scale_choices` is given. Every other hparam comes from
the command line as in `train.py` (`--hparams="categories=[bee,bus]"`, `--batch_size=16`, ...).

Each trial runs `training.start_run` in `TUNING_DIR/sketchgloc/trial_<id>` for `--trial_steps`
steps (upstream epochs, validation at epoch ends and at the last step, no reconstruction
pictures) and reports the objective `val_loss`, the best validation loss of the trial (lower is
better); a diverged trial is recorded as failed. The search is resumable: keras-tuner keeps its
state in `TUNING_DIR` (`overwrite=False`), so running the same command again continues up to
`--max_trials` (a trial interrupted mid-way is trained again from scratch).

At the end `TUNING_DIR/best/` holds the best trial's `model_config.json` (all hparams with the
computed sizes, `num_steps` back to the command line's value; `hparams.load_config` reads it),
its `model.weights.h5` (so `best/` is a CHECKPOINT_DIR for `sample_abs.py` / `retrieval.py`) and
`trial.json` (trial id, searched values, objective). The command prints the `train.py` command
line that trains the best configuration (`--hparams` with every non-default value).
"""

import dataclasses
import json
import os
import shutil

import keras_tuner
from absl import logging

from sketch_common.atomic_io import atomic_path, write_text
from sketch_common.tuning import ORACLES, best_completed_trial, make_oracle
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2 import training
from sketchgloc_tf2.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from sketchgloc_tf2.errors import SketchConfigError, SketchError

OBJECTIVE = "val_loss"
PROJECT_NAME = "sketchgloc"
BEST_DIR = "best"
TRIAL_FILE = "trial.json"


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The searched hparams: a choice list each, and the learning-rate range.

    Attributes:
        enc_rnn_size: choices of the stroke-encoder width.
        dec_rnn_size: choices of the decoder width.
        z_size: choices of the latent width.
        learning_rate: `(min, max)`, sampled log-uniformly.
        re_scale: choices of the reorganisation strength; empty: not searched.
    """

    enc_rnn_size: tuple = (128, 256, 512)
    dec_rnn_size: tuple = (256, 512, 1024)
    z_size: tuple = (64, 128, 256)
    learning_rate: tuple = (1e-4, 3e-3)
    re_scale: tuple = ()

    def hyperparameters(self) -> keras_tuner.HyperParameters:
        """The space as keras-tuner `HyperParameters` (names are hparam names).

        Raises:
            SketchConfigError: an empty choice list or a learning-rate range that is not
                `0 < min < max`.
        """
        low, high = self.learning_rate
        if not 0 < low < high:
            raise SketchConfigError(f"learning_rate range {self.learning_rate}: need 0 < MIN < "
                                    "MAX (--learning_rate_range=MIN,MAX)")
        space = keras_tuner.HyperParameters()
        for name in ("enc_rnn_size", "dec_rnn_size", "z_size"):
            choices = getattr(self, name)
            if not choices:
                raise SketchConfigError(f"--{name}_choices is empty: give at least one value")
            space.Choice(name, [int(value) for value in choices])
        space.Float("learning_rate", low, high, sampling="log")
        if self.re_scale:
            space.Choice("re_scale", [float(value) for value in self.re_scale])
        return space


class SketchGlocTuner(keras_tuner.Tuner):
    """Runs each trial with the SketchGloc trainer and reports the best validation loss.

    Args:
        oracle: a keras-tuner oracle over `SearchSpace.hyperparameters()`, objective
            `val_loss` (min).
        data_dir: folder of the `<category>.npz` files.
        base_hparams: the fixed hparams; the trial's values replace the searched ones and
            `num_steps` becomes `trial_steps`.
        trial_steps: training steps per trial.
        strategy: `tf.distribute.Strategy` of the trials, or None.
        **kwargs: `keras_tuner.Tuner` arguments (`directory`, `project_name`, `overwrite`).
    """

    def __init__(self, oracle, data_dir: str, base_hparams: hparams_lib.HParams,
                 trial_steps: int, strategy=None, **kwargs):
        super().__init__(oracle=oracle, **kwargs)
        self.data_dir = data_dir
        self.base_hparams = base_hparams
        self.trial_steps = trial_steps
        self.strategy = strategy

    def trial_hparams(self, trial) -> hparams_lib.HParams:
        """The hparams a trial trains with."""
        return self.base_hparams.replace(num_steps=self.trial_steps,
                                         **trial.hyperparameters.values)

    def run_trial(self, trial, *args, **kwargs) -> dict:
        """Trains the trial's model for `trial_steps` steps; returns `{'val_loss': best}`.

        Raises:
            keras_tuner.errors.FailedTrialError: the training loss diverged (the search goes on).
            keras_tuner.errors.FatalError: any other `SketchError` (bad data or settings, which
                every trial would hit; the search stops).
        """
        hparams = self.trial_hparams(trial)
        logging.info("Trial %s: %s", trial.trial_id, trial.hyperparameters.values)
        try:
            trainer = training.start_run(
                self.data_dir, self.get_trial_dir(trial.trial_id), hparams, save_state_steps=0,
                verbose=False, strategy=self.strategy, overwrite=True)
            progress = trainer.run()
        except training.TrainingDivergedError as error:
            raise keras_tuner.errors.FailedTrialError(str(error)) from error
        except SketchError as error:
            raise keras_tuner.errors.FatalError(str(error)) from error
        return {OBJECTIVE: progress.best_valid_loss}


def make_tuner(data_dir: str, tuning_dir: str, base_hparams: hparams_lib.HParams,
               space: SearchSpace, max_trials: int, trial_steps: int, oracle: str = "random",
               seed: int = 0, strategy=None) -> SketchGlocTuner:
    """A `SketchGlocTuner` whose state lives in `tuning_dir` (reloaded when present).

    Args:
        oracle: 'random' (RandomSearch) or 'bayesian' (BayesianOptimization).
        seed: seed of the oracle.
        Other arguments: see `SketchGlocTuner` and `SearchSpace`.
    """
    if oracle not in ORACLES:
        raise SketchConfigError(f"--oracle={oracle!r} is not one of {sorted(ORACLES)}")
    objective = keras_tuner.Objective(OBJECTIVE, direction="min")
    search = make_oracle(oracle, objective, max_trials, space.hyperparameters(), seed)
    return SketchGlocTuner(search, data_dir, base_hparams, trial_steps, strategy,
                           directory=tuning_dir, project_name=PROJECT_NAME, overwrite=False)


def write_best(tuner: SketchGlocTuner, tuning_dir: str) -> str:
    """Writes `tuning_dir/best/` (see the module docstring); returns its path.

    Raises:
        SketchError: no trial has completed.
    """
    trial = best_completed_trial(tuner.oracle)
    if trial is None:
        raise SketchError(f"{tuning_dir}: no completed trial; see the failed trials' messages "
                          "in the log and run the search again")
    trial_dir = tuner.get_trial_dir(trial.trial_id)
    hparams = hparams_lib.load_config(os.path.join(trial_dir, CONFIG_NAME)).replace(
        num_steps=tuner.base_hparams.num_steps)
    best_dir = os.path.join(tuning_dir, BEST_DIR)
    hparams_lib.save_config(hparams, os.path.join(best_dir, CONFIG_NAME))
    weights = os.path.join(best_dir, WEIGHTS_NAME)
    with atomic_path(weights) as temporary:
        shutil.copyfile(os.path.join(trial_dir, WEIGHTS_NAME), temporary)
    record = {"trial_id": trial.trial_id, "hyperparameters": trial.hyperparameters.values,
              OBJECTIVE: trial.score, "trial_dir": trial_dir, "trial_steps": tuner.trial_steps}
    write_text(os.path.join(best_dir, TRIAL_FILE),
                                  json.dumps(record, indent=1))
    return best_dir


def hparams_argument(hparams: hparams_lib.HParams) -> str:
    """The `train.py --hparams=...` value that rebuilds `hparams`: every value that differs from
    the defaults, except the sizes and scale factor `train.py` computes from the data."""
    defaults = hparams_lib.HParams().values()
    pairs = []
    for name, value in hparams.values().items():
        if value == defaults[name] or name in hparams_lib.COMPUTED_HPARAMS:
            continue
        text = f"[{','.join(map(str, value))}]" if isinstance(value, list) else str(value)
        pairs.append(f"{name}={text}")
    return ",".join(pairs)


def best_summary(best_dir: str, data_dir: str) -> str:
    """What the command prints after a search: the best trial and the command that trains it."""
    with open(os.path.join(best_dir, TRIAL_FILE), encoding="utf-8") as handle:
        record = json.load(handle)
    best = hparams_lib.load_config(os.path.join(best_dir, CONFIG_NAME))
    return (f"Best trial {record['trial_id']}: {OBJECTIVE} {record[OBJECTIVE]:.4f} with "
            f"{record['hyperparameters']}\n"
            f"Best configuration in {os.path.abspath(best_dir)} (model_config.json, "
            f"model.weights.h5). Train it: python train.py --data_dir={data_dir} "
            f"--log_root=LOG_ROOT --hparams=\"{hparams_argument(best)}\"")


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_tune")
