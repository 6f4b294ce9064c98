"""`python -m bert_tf2 train|test CONFIG.yml [--key=value ...] [--metrics_json=PATH]`.

`train` trains as the original `python main.py train CONFIG.yml`; `test` restores according to
`load_pretrained` / `which_pretrained` and runs one validation pass (the `eval_split`, default
'valid' as upstream). `--key=value` overrides any YAML key (YAML-typed); `--metrics_json=PATH`
writes the final losses and metrics as JSON.
"""

import sys

from absl import logging

from bert_tf2.config import load_config
from bert_tf2.errors import BertError
from bert_tf2.training import Trainer, write_metrics_json

MODES = ("train", "test")
USAGE = ("usage: python -m bert_tf2 train|test CONFIG.yml [--key=value ...] "
         "[--metrics_json=PATH]")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in MODES:
        print(USAGE, file=sys.stderr)
        return 2
    mode, config_path, rest = argv[0], argv[1], argv[2:]
    metrics_path = None
    overrides = []
    for arg in rest:
        if arg.startswith("--metrics_json="):
            metrics_path = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
    logging.set_verbosity(logging.INFO)
    try:
        config = load_config(config_path, overrides)
        logging.info("config %s: %s", config_path, config.to_dict())
        trainer = Trainer(config)
        if mode == "train":
            metrics = trainer.train()
        else:
            metrics = {"val": trainer.validate(), "iteration": trainer.iteration}
    except BertError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(" ".join(f"{key}={value:.4f}" for key, value in metrics["val"].items()))
    if metrics_path:
        write_metrics_json(metrics_path, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
