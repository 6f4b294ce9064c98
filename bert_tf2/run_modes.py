"""`python -m bert_tf2 train|test CONFIG.yml [--key=value ...] [tool flags]`.

`train` trains as the original `python main.py train CONFIG.yml`; `test` restores according to
`load_pretrained` / `which_pretrained` and runs one validation pass (the `eval_split`, default
'valid' as upstream). `python -m bert_tf2 test CHECKPOINT_DIR` (e.g. `RUN/best`) evaluates a
checkpoint directory with its saved `config.yml` and weights. `test` refuses to evaluate a model
whose weights (encoder and heads) are not all restored from a checkpoint, unless
`--allow_random_weights` asks for it. `--key=value` overrides any YAML key (YAML-typed).

Tool flags (absl, not config keys): `--metrics_json=PATH` writes the final losses and metrics as
JSON; `--strategy=default|mirrored|multi_worker` and `--logical_cpus=N` select the
`tf.distribute` strategy (see `sketchgloc_tf2.distribute`); `--allow_random_weights` (test).

Every error the user can fix (bad config, data or checkpoint, unwritable folder) ends as one
line `error: ...` on stderr and exit status 1; a bad command line prints the usage, exit 2;
`--help` prints the usage, exit 0.
"""

import os
import sys

from absl import flags, logging

from bert_tf2.checkpoint import CONFIG_FILE
from bert_tf2.config import load_config, parse_overrides
from bert_tf2.errors import BertConfigError, BertError
from bert_tf2.training import Trainer, write_metrics_json
from flags.common import define_distribution_flags, parse_tool_arguments, strategy_from_flags
from sketchgloc_tf2.errors import SketchError

MODES = ("train", "test")
HELP_FLAGS = ("--help", "-h", "--helpfull", "-help")
USAGE = ("usage: python -m bert_tf2 train|test CONFIG.yml [--key=value ...] "
         "[--metrics_json=PATH] [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]\n"
         "       python -m bert_tf2 test CHECKPOINT_DIR [--key=value ...] [--metrics_json=PATH]\n"
         "       (test: --allow_random_weights evaluates even when no weights are restored)")
CHECKPOINT_RESTORE = {"load_pretrained": "pretrained", "which_pretrained": ["enc_net", "task_net"]}


def tool_flags() -> flags.FlagValues:
    """A fresh set of the tool flags (`--metrics_json`, `--strategy`, `--logical_cpus`,
    `--allow_random_weights`)."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string("metrics_json", None, "Write the final losses and metrics as JSON here.",
                        flag_values=flag_values)
    flags.DEFINE_boolean("allow_random_weights", False,
                         "test: evaluate even when no (or not all) weights are restored.",
                         flag_values=flag_values)
    define_distribution_flags(flag_values)
    return flag_values


def one_line(error) -> str:
    """The message of `error` on one line."""
    return " ".join(str(error).split())


def test_config(target: str, overrides):
    """The config `test` evaluates: a YAML file, or a checkpoint directory's `config.yml` set to
    restore that directory's encoder and heads (overrides applied last)."""
    if not os.path.isdir(target):
        return load_config(target, overrides)
    config_path = os.path.join(target, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise BertConfigError(f"{target} is a directory without {CONFIG_FILE}; pass a checkpoint "
                              "directory (RUN/best, RUN/latest) or a YAML config")
    return load_config(config_path, {**CHECKPOINT_RESTORE, "restore_checkpoint_path": target,
                                     **parse_overrides(overrides)})


def check_restored(trainer, config_path: str) -> None:
    """Raises unless `test` evaluates weights restored from a checkpoint (encoder and heads)."""
    restored = trainer.restored
    if restored is None:
        raise BertConfigError(
            f"test: {config_path} restores no weights (load_pretrained: "
            f"{trainer.config.load_pretrained}), so the metrics would be those of random weights; "
            "pass a checkpoint directory (python -m bert_tf2 test RUN/best), or "
            "--load_pretrained=pretrained --which_pretrained=[enc_net,task_net] "
            "--restore_checkpoint_path=DIR, or --allow_random_weights")
    missing = [name for name in ("enc_net", "task_net") if name not in restored["which"]]
    if missing or restored["fresh_heads"]:
        what = f"which_pretrained lacks {missing}" if missing else \
            f"heads {restored['fresh_heads']} are not in {restored['path']}"
        raise BertConfigError(
            f"test: {what}, so part of the model keeps random weights; restore "
            "--which_pretrained=[enc_net,task_net] from a checkpoint with these heads, or pass "
            "--allow_random_weights")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg in HELP_FLAGS for arg in argv):
        print(USAGE)
        print(__doc__)
        return 0
    if len(argv) < 2 or argv[0] not in MODES:
        print(USAGE, file=sys.stderr)
        return 2
    mode, config_path, rest = argv[0], argv[1], argv[2:]
    flag_values = tool_flags()
    overrides = parse_tool_arguments("bert_tf2", rest, flag_values, USAGE)
    if overrides is None:
        return 2
    logging.set_verbosity(logging.INFO)
    try:
        strategy = strategy_from_flags(flag_values)
        if mode == "test":
            config = test_config(config_path, overrides)
            if config.load_pretrained == "scratch" and not flag_values.allow_random_weights:
                raise BertConfigError(
                    f"test: {config_path} says load_pretrained: scratch, so no weights would be "
                    "restored and the metrics would be those of random weights; pass a "
                    "checkpoint directory (python -m bert_tf2 test RUN/best), or "
                    "--load_pretrained=pretrained --restore_checkpoint_path=DIR, or "
                    "--allow_random_weights")
        else:
            config = load_config(config_path, overrides)
        logging.info("config %s: %s", config_path, config.to_dict())
        trainer = Trainer(config, strategy=strategy)
        if mode == "train":
            metrics = trainer.train()
        else:
            if not flag_values.allow_random_weights:
                check_restored(trainer, config_path)
            metrics = {"val": trainer.validate(), "iteration": trainer.iteration}
        print(" ".join(f"{key}={value:.4f}" for key, value in metrics["val"].items()))
        if flag_values.metrics_json:
            write_metrics_json(flag_values.metrics_json, metrics)
    except (BertError, SketchError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {one_line(error)}; check that the path exists and is writable",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
