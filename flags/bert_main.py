"""`python -m bert_tf2 train|test CONFIG.yml [--key=value ...] [tool flags]` (console script
`sketch-bert`).

`train` trains as the original `python main.py train CONFIG.yml`; `test` restores according to
`load_pretrained` / `which_pretrained` and runs one validation pass (the `eval_split`, default
'valid' as upstream). `python -m bert_tf2 test CHECKPOINT_DIR` (e.g. `RUN/best`) evaluates a
checkpoint directory with its saved `config.yml` and weights. `test` refuses to evaluate a model
whose weights (encoder and heads) are not all restored from a checkpoint, unless
`--allow_random_weights` asks for it. `--key=value` overrides any YAML key (YAML-typed:
`--mask_prob=1.0`, `--task_types=[maskrec]`, `--cls_limit_path=''`).

Tool flags (not config keys):
  --metrics_json=PATH       write the final losses and metrics as JSON (atomically)
  --strategy=default|mirrored|multi_worker
                            tf.distribute strategy (see sketch_common.distribute): default = one
                            device; mirrored = the local GPUs, else the logical CPUs;
                            multi_worker = configured from TF_CONFIG
  --logical_cpus=N          split the host CPU into N logical devices (0 = no split)
  --[no]tune_cpu_runtime    glibc heap reuse and XLA's memory-saving scheduler (default on)
  --allow_random_weights    test: evaluate even when no (or not all) weights are restored

Every error the user can fix (bad config, data or checkpoint, unwritable folder) ends as one
line `error: ...` on stderr and exit status 1; a bad command line prints the usage, exit 2;
`--help` prints this text and the config keys, exit 0.
"""

import sys

USAGE = ("usage: python -m bert_tf2 train|test CONFIG.yml [--key=value ...] "
         "[--metrics_json=PATH] [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]\n"
         "       python -m bert_tf2 test CHECKPOINT_DIR [--key=value ...] [--metrics_json=PATH]\n"
         "       (test: --allow_random_weights evaluates even when no weights are restored)")
MODES = ("train", "test")
HELP_ARGUMENTS = ("-h", "--help", "--helpshort", "--helpfull", "-help", "-?")


def print_help() -> None:
    """The usage, this description and every config key with its help line (no TF import)."""
    from bert_tf2.config import keys_help

    print(USAGE)
    print()
    print(__doc__.strip())
    print("\nconfig keys (in the YAML file or as --key=value overrides):")
    print(keys_help())


def tool_flags():
    """A fresh `absl.flags.FlagValues` with the tool flags (see the module docstring)."""
    from absl import flags

    from flags.common import define_distribution_flags

    flag_values = flags.FlagValues()
    flags.DEFINE_string("metrics_json", None, "Write the final losses and metrics as JSON here.",
                        flag_values=flag_values)
    flags.DEFINE_boolean("allow_random_weights", False,
                         "test: evaluate even when no (or not all) weights are restored.",
                         flag_values=flag_values)
    define_distribution_flags(flag_values)
    return flag_values


def main(argv=None) -> int:
    """Runs `python -m bert_tf2 ...` on `argv` (default `sys.argv[1:]`).

    Returns:
        The exit status: 0, 1 (an error, printed as one line `error: ...`) or 2 (bad command
        line, usage printed). `--help` returns 0 before TensorFlow is imported.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg in HELP_ARGUMENTS for arg in argv):
        print_help()
        return 0
    if len(argv) < 2 or argv[0] not in MODES:
        print(USAGE, file=sys.stderr)
        return 2
    mode, config_path, rest = argv[0], argv[1], argv[2:]
    from absl import logging

    from flags.common import apply_runtime_flags, parse_tool_arguments, strategy_from_flags
    from sketch_common.errors import UserError, error_message

    flag_values = tool_flags()
    overrides = parse_tool_arguments("bert_tf2", rest, flag_values, USAGE)
    if overrides is None:
        return 2
    logging.set_verbosity(logging.INFO)
    try:
        from bert_tf2.metrics import write_metrics_json
        from bert_tf2.run_modes import run_mode

        apply_runtime_flags(flag_values)
        strategy = strategy_from_flags(flag_values)
        metrics = run_mode(mode, config_path, overrides, strategy,
                           flag_values.allow_random_weights)
        print(" ".join(f"{key}={value:.4f}" for key, value in metrics["val"].items()))
        if flag_values.metrics_json:
            write_metrics_json(flag_values.metrics_json, metrics)
    except (UserError, OSError) as error:
        print(error_message(error), file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
