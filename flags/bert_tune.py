"""`python -m bert_tf2.tune` (console script `sketch-bert-tune`): flags and command line.

Searches Sketch-BERT settings with keras-tuner (see `bert_tf2.tune`):

    python -m bert_tf2.tune CONFIG.yml --tuning_dir=DIR [--key=value ...] [--max_trials=10]
        [--trial_iterations=500] [--oracle=random|bayesian] [--tuner_seed=0]
        [--num_layers_choices=4,8] [--num_heads_choices=6,12] [--hidden_size_choices=384,768]
        [--learning_rate_range=3e-5,3e-4] [--strategy=...] [--logical_cpus=N]

`--key=value` arguments that are not tool flags override YAML keys of CONFIG.yml.
"""

import sys

from absl import flags, logging

from flags.common import (HELP_ARGUMENTS, apply_runtime_flags, define_distribution_flags,
                          define_tune_flags, parse_tool_arguments, print_help,
                          strategy_from_flags)

USAGE = "usage: python -m bert_tf2.tune CONFIG.yml --tuning_dir=DIR [--key=value ...] [flags]"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the flags of `python -m bert_tf2.tune` on `flag_values`.

    The search flags of `flags.common.define_tune_flags`, `--trial_iterations`, the choices of
    the searched settings (unset: the defaults of `bert_tf2.tune.SearchSpace`) and the
    distribution flags.
    """
    define_tune_flags(flag_values)
    flags.DEFINE_integer("trial_iterations", 500,
                         "Training iterations per trial (then a validation gives the objective).",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_list("num_layers_choices", None, "Numbers of transformer layers to search.",
                      flag_values=flag_values)
    flags.DEFINE_list("num_heads_choices", None, "Numbers of attention heads to search.",
                      flag_values=flag_values)
    flags.DEFINE_list("hidden_size_choices", None,
                      "Hidden sizes to search (each a multiple of every head count; the "
                      "feed-forward width is 4x the hidden size).", flag_values=flag_values)
    define_distribution_flags(flag_values)


def space_from_flags(flag_values: flags.FlagValues):
    """`bert_tf2.tune.SearchSpace` with every entry given on the command line replaced.

    Raises:
        BertConfigError: a value that is not a number.
    """
    from bert_tf2.errors import BertConfigError
    from bert_tf2.tune import SearchSpace

    changes = {}
    try:
        for name in ("num_layers", "num_heads", "hidden_size"):
            values = flag_values[f"{name}_choices"].value
            if values is not None:
                changes[name] = tuple(int(value) for value in values)
        if flag_values.learning_rate_range is not None:
            low, high = (float(value) for value in flag_values.learning_rate_range)
            changes["learning_rate"] = (low, high)
    except ValueError as error:
        raise BertConfigError(f"search-space flag: {error}") from None
    return SearchSpace(**changes)


def main(argv=None) -> int:
    """Runs `python -m bert_tf2.tune CONFIG.yml ...` on `argv` (default `sys.argv[1:]`).

    Returns:
        The exit status: 0, 1 (a search error) or 2 (bad command line).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    if any(arg in HELP_ARGUMENTS for arg in argv):
        print_help(__doc__, flag_values)
        return 0
    if not argv or argv[0].startswith("--"):
        print(USAGE, file=sys.stderr)
        return 2
    config_path, rest = argv[0], argv[1:]
    overrides = parse_tool_arguments("bert_tf2.tune", rest, flag_values, USAGE)
    if overrides is None:
        return 2
    import keras_tuner

    from bert_tf2 import tune
    from bert_tf2.config import parse_overrides
    from sketch_common.errors import UserError, error_message

    logging.set_verbosity(logging.INFO)
    try:
        apply_runtime_flags(flag_values)
        strategy = strategy_from_flags(flag_values)
        tuner = tune.make_tuner(config_path, parse_overrides(overrides), flag_values.tuning_dir,
                                space_from_flags(flag_values), flag_values.max_trials,
                                flag_values.trial_iterations, flag_values.oracle,
                                flag_values.tuner_seed, strategy)
        tuner.search()
        best_dir = tune.write_best(tuner, flag_values.tuning_dir)
    except (UserError, OSError, keras_tuner.errors.FatalError) as error:
        print(error_message(error), file=sys.stderr)
        return 1
    print(tune.best_summary(tuner, best_dir))
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
