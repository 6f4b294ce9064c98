"""absl flag helpers shared by the command-line tools of both ports."""

import sys

from absl import app, flags

from sketch_common import cpu_runtime, distribute


def define_flag_for_default(name: str, default, help_text: str, flag_values=flags.FLAGS):
    """Defines `--name` typed like `default` (bool, int, float, list or str), defaulting to None.

    A None default lets the caller tell an explicitly given flag from an unset one.
    """
    if isinstance(default, bool):
        flags.DEFINE_boolean(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, int):
        flags.DEFINE_integer(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, float):
        flags.DEFINE_float(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, list):
        flags.DEFINE_list(name, None, help_text, flag_values=flag_values)
    else:
        flags.DEFINE_string(name, None, help_text, flag_values=flag_values)


def explicit_values(names, flag_values=flags.FLAGS) -> dict:
    """The flags among `names` that were given on the command line, by name."""
    return {name: flag_values[name].value for name in names if flag_values[name].present}


def define_distribution_flags(flag_values=flags.FLAGS) -> None:
    """Defines `--strategy` and `--logical_cpus` (see `sketch_common.distribute`)."""
    flags.DEFINE_enum("strategy", "default", list(distribute.STRATEGIES),
                      "default: one device, XLA-compiled step; mirrored: MirroredStrategy over "
                      "the local GPUs (else the logical CPUs); multi_worker: "
                      "MultiWorkerMirroredStrategy configured from TF_CONFIG.",
                      flag_values=flag_values)
    flags.DEFINE_integer("logical_cpus", 0,
                         "Split the host CPU into this many logical devices before TensorFlow "
                         "initialises (0: no split); with --strategy=mirrored and no GPU, one "
                         "replica per logical CPU (for testing multi-device code on one "
                         "machine).", lower_bound=0, flag_values=flag_values)
    flags.DEFINE_boolean("tune_cpu_runtime", True,
                         "Keep freed memory in the process heap for reuse (glibc) and use XLA's "
                         "memory-saving scheduler: saves the page faults of every XLA step "
                         "(about a third of a SketchGloc step on a VM) and peak memory. See "
                         "sketch_common.cpu_runtime.", flag_values=flag_values)


def apply_runtime_flags(flag_values=flags.FLAGS) -> None:
    """Applies `--tune_cpu_runtime` (process-wide malloc and XLA settings); entry points only."""
    if flag_values.tune_cpu_runtime:
        cpu_runtime.tune()


def strategy_from_flags(flag_values=flags.FLAGS):
    """The strategy of `--strategy` / `--logical_cpus` (None for `default`).

    Call it before anything creates a tensor: the logical CPUs are configured first.

    Raises:
        ConfigError: logical CPUs requested after TensorFlow initialised its devices.
    """
    return distribute.make_strategy(flag_values.strategy, flag_values.logical_cpus)


def define_tune_flags(flag_values=flags.FLAGS) -> None:
    """Defines the flags every hyperparameter search shares (`python -m ... .tune`)."""
    flags.DEFINE_string("tuning_dir", None,
                        "Folder of the search: keras-tuner state (resumed when present), one "
                        "folder per trial and best/ with the best trial's configuration.",
                        flag_values=flag_values)
    flags.mark_flag_as_required("tuning_dir", flag_values=flag_values)
    flags.DEFINE_integer("max_trials", 10, "Number of trials of the search (completed trials of "
                         "an earlier run in --tuning_dir count).", lower_bound=1,
                         flag_values=flag_values)
    flags.DEFINE_enum("oracle", "random", ["random", "bayesian"],
                      "keras-tuner search algorithm: RandomSearch or BayesianOptimization.",
                      flag_values=flag_values)
    flags.DEFINE_integer("tuner_seed", 0, "Seed of the search algorithm.",
                         flag_values=flag_values)
    flags.DEFINE_list("learning_rate_range", None,
                      "MIN,MAX of the learning rate, searched on a log scale.",
                      flag_values=flag_values)


def parse_tool_arguments(program: str, args, flag_values: flags.FlagValues, usage: str):
    """Parses the flags of `flag_values` among `args` (see `split_tool_arguments`).

    Returns:
        The other arguments, in order (e.g. YAML key overrides); None when a flag is invalid,
        after printing the error and `usage` to stderr.
    """
    tool_args, rest = split_tool_arguments(args, flag_values)
    try:
        flag_values([program] + tool_args)
    except flags.Error as error:
        print(f"error: {error}\n{usage}", file=sys.stderr)
        return None
    return rest


def split_tool_arguments(args, flag_values: flags.FlagValues) -> tuple:
    """Splits `args` into `(tool flag arguments, the rest)`.

    An argument `--name=...` or `--name` whose name is a flag of `flag_values` goes to the first
    list (absl parses it); every other argument, e.g. a YAML key override `--batch_size=8`,
    stays in the second, in order.
    """
    tool, rest = [], []
    for arg in args:
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        (tool if name in flag_values else rest).append(arg)
    return tool, rest


HELP_ARGUMENTS = ("-h", "--help", "--helpshort", "--helpfull", "-?")


def print_help(description: str, flag_values=flags.FLAGS) -> None:
    """Prints `description` and every flag of `flag_values` with its help text to stdout."""
    print(description.strip())
    flag_help = flag_values.get_help(include_special_flags=False)
    if flag_help:
        print("\nflags:\n" + flag_help)


def run_app(main, description: str, flag_values=flags.FLAGS, argv=None) -> None:
    """`absl.app.run(main)`, except that `--help` lists every flag and exits 0.

    (absl's own `--help` lists only the flags defined in the `__main__` module and exits 1.)

    Args:
        main: the tool's `main(argv) -> int`.
        description: usage and purpose, printed above the flags.
        flag_values: where the tool's flags are defined.
        argv: the command line (default `sys.argv`).
    """
    argv = list(sys.argv if argv is None else argv)
    if any(arg in HELP_ARGUMENTS for arg in argv[1:]):
        print_help(description, flag_values)
        sys.exit(0)
    app.run(main, argv=argv)


def parse_flags_or_status(argv, flag_values, description: str, parse=None):
    """Parses the absl flags of `argv` (program name first) the way every tool does.

    `--help` prints `description` and every flag (exit status 0); a flag that does not parse
    prints one `error: ...` line (exit status 2).

    Args:
        argv: the command line, program name first.
        flag_values: the tool's `FlagValues` (reset before parsing, so `main` can run again).
        description: the tool's usage text.
        parse: `argv -> remaining arguments` (default: `flag_values` itself).

    Returns:
        `(remaining arguments (program name first), None)` when the flags parsed, else
        `(None, exit status)`.
    """
    if any(arg in HELP_ARGUMENTS for arg in argv[1:]):
        print_help(description, flag_values)
        return None, 0
    flag_values.unparse_flags()
    try:
        return (parse or flag_values)(argv), None
    except flags.Error as error:
        print(f"error: {' '.join(str(error).split())} (see --help)", file=sys.stderr)
        return None, 2
