"""`python -m sketchgloc_tf2.tune` (console script `sketchgloc-tune`): flags and command line.

Searches SketchGloc hyperparameters with keras-tuner (see `sketchgloc_tf2.tune`):

    python -m sketchgloc_tf2.tune --data_dir=DIR --tuning_dir=DIR [--max_trials=10]
        [--trial_steps=500] [--oracle=random|bayesian] [--tuner_seed=0]
        [--enc_rnn_size_choices=128,256,512] [--dec_rnn_size_choices=256,512,1024]
        [--z_size_choices=64,128,256] [--learning_rate_range=1e-4,3e-3]
        [--re_scale_choices=0.0,0.1,0.3] [--hparams=... / any train.py hparam flag]
        [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]
"""

import os
import sys

from absl import flags

from flags.common import (apply_runtime_flags, define_distribution_flags, define_tune_flags,
                          run_app, strategy_from_flags)
from flags.sketchgloc import define_hparam_flags, hparam_overrides

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS) -> None:
    """Defines the flags of `python -m sketchgloc_tf2.tune` (once per process).

    The search flags of `flags.common.define_tune_flags`, the choices of the searched hparams
    (unset: the defaults of `sketchgloc_tf2.tune.SearchSpace`), `--data_dir`, `--trial_steps`,
    the distribution flags and every hparam flag of `train.py` (the fixed part of each trial).
    """
    flags.DEFINE_string("data_dir", None, "Folder of the <category>.npz files.",
                        flag_values=flag_values)
    flags.mark_flag_as_required("data_dir", flag_values=flag_values)
    flags.DEFINE_integer("trial_steps", 500,
                         "Training steps per trial (then a validation gives the objective).",
                         lower_bound=1, flag_values=flag_values)
    for name in ("enc_rnn_size", "dec_rnn_size", "z_size"):
        flags.DEFINE_list(f"{name}_choices", None, f"Values of {name} to search.",
                          flag_values=flag_values)
    flags.DEFINE_list("re_scale_choices", None,
                      "Values of re_scale to search (unset: re_scale is not searched).",
                      flag_values=flag_values)
    define_tune_flags(flag_values)
    define_distribution_flags(flag_values)
    define_hparam_flags(flag_values)


def space_from_flags(flag_values=FLAGS):
    """`sketchgloc_tf2.tune.SearchSpace` with every entry given on the command line replaced."""
    from sketchgloc_tf2.errors import SketchConfigError
    from sketchgloc_tf2.tune import SearchSpace

    changes = {}
    for name in ("enc_rnn_size", "dec_rnn_size", "z_size", "re_scale"):
        values = flag_values[f"{name}_choices"].value
        if values is not None:
            cast = float if name == "re_scale" else int
            try:
                changes[name] = tuple(cast(value) for value in values)
            except ValueError as error:
                raise SketchConfigError(f"--{name}_choices={','.join(values)}: {error}") from None
    if flag_values.learning_rate_range is not None:
        try:
            low, high = (float(value) for value in flag_values.learning_rate_range)
        except ValueError as error:
            raise SketchConfigError(f"--learning_rate_range: give MIN,MAX ({error})") from None
        changes["learning_rate"] = (low, high)
    return SearchSpace(**changes)


def main(argv) -> int:
    """Runs the search of the parsed flags; prints the best trial. Returns the exit status.

    Raises:
        SketchError: bad flags or data (a trial's fatal error is re-raised as one).
    """
    if len(argv) > 1:
        print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras_tuner

    from sketchgloc_tf2 import hparams as hparams_lib
    from sketchgloc_tf2 import tune
    from sketchgloc_tf2.errors import SketchError

    apply_runtime_flags()
    strategy = strategy_from_flags()
    base = hparams_lib.HParams().replace(**hparam_overrides())
    tuner = tune.make_tuner(FLAGS.data_dir, FLAGS.tuning_dir, base, space_from_flags(),
                            FLAGS.max_trials, FLAGS.trial_steps, FLAGS.oracle,
                            FLAGS.tuner_seed, strategy)
    try:
        tuner.search()
    except keras_tuner.errors.FatalError as error:
        raise SketchError(str(error)) from error
    best_dir = tune.write_best(tuner, FLAGS.tuning_dir)
    print(tune.best_summary(best_dir, FLAGS.data_dir))
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    define_flags()
    run_tool(lambda: run_app(main, __doc__))
