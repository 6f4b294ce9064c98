"""`python -m bert_tf2 train|test CONFIG.yml [--key=value ...] [tool flags]`.

`train` trains as the original `python main.py train CONFIG.yml`; `test` restores according to
`load_pretrained` / `which_pretrained` and runs one validation pass (the `eval_split`, default
'valid' as upstream). `--key=value` overrides any YAML key (YAML-typed). Tool flags (absl, not
config keys): `--metrics_json=PATH` writes the final losses and metrics as JSON;
`--strategy=default|mirrored|multi_worker` and `--logical_cpus=N` select the `tf.distribute`
strategy (see `sketchgloc_tf2.distribute`).
"""

import sys

from absl import flags, logging

from bert_tf2.config import load_config
from bert_tf2.errors import BertError
from bert_tf2.training import Trainer, write_metrics_json
from flags.common import define_distribution_flags, parse_tool_arguments, strategy_from_flags
from sketchgloc_tf2.errors import SketchError

MODES = ("train", "test")
USAGE = ("usage: python -m bert_tf2 train|test CONFIG.yml [--key=value ...] "
         "[--metrics_json=PATH] [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]")


def tool_flags() -> flags.FlagValues:
    """A fresh set of the tool flags (`--metrics_json`, `--strategy`, `--logical_cpus`)."""
    flag_values = flags.FlagValues()
    flags.DEFINE_string("metrics_json", None, "Write the final losses and metrics as JSON here.",
                        flag_values=flag_values)
    define_distribution_flags(flag_values)
    return flag_values


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
        config = load_config(config_path, overrides)
        logging.info("config %s: %s", config_path, config.to_dict())
        trainer = Trainer(config, strategy=strategy)
        if mode == "train":
            metrics = trainer.train()
        else:
            metrics = {"val": trainer.validate(), "iteration": trainer.iteration}
    except (BertError, SketchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(" ".join(f"{key}={value:.4f}" for key, value in metrics["val"].items()))
    if flag_values.metrics_json:
        write_metrics_json(flag_values.metrics_json, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
