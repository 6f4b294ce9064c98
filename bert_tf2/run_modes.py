"""The `train` and `test` modes of `python -m bert_tf2` (command line: `flags/bert_main.py`).

`train` trains as the original `python main.py train CONFIG.yml`; `test` restores according to
`load_pretrained` / `which_pretrained` and runs one validation pass (the `eval_split`, default
'valid' as upstream). `test` on a checkpoint directory (e.g. `RUN/best`) evaluates it with its
saved `config.yml` and weights, and refuses to evaluate a model whose weights (encoder and heads)
are not all restored from a checkpoint, unless `allow_random_weights` asks for it.
"""

import os

from absl import logging

from bert_tf2.checkpoint import CONFIG_FILE
from bert_tf2.config import load_config, parse_overrides
from bert_tf2.errors import BertConfigError
from bert_tf2.training import Trainer

MODES = ("train", "test")
CHECKPOINT_RESTORE = {"load_pretrained": "pretrained", "which_pretrained": ["enc_net", "task_net"]}


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


def run_mode(mode: str, config_path: str, overrides, strategy=None,
             allow_random_weights: bool = False) -> dict:
    """Runs `train` or `test` on a YAML config (or, for `test`, a checkpoint directory).

    Args:
        mode: 'train' or 'test'.
        config_path: YAML config, or a checkpoint directory (`test`).
        overrides: `--key=value` strings overriding YAML keys.
        strategy: optional `tf.distribute` strategy.
        allow_random_weights: `test` evaluates even when not every weight is restored.

    Returns:
        The metrics dict (`val` results, `iteration`, and for `train` the trainer's summary).

    Raises:
        BertError: a bad config, data or checkpoint; `test` of random weights.
    """
    if mode == "test":
        config = test_config(config_path, overrides)
        if config.load_pretrained == "scratch" and not allow_random_weights:
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
        return trainer.train()
    if not allow_random_weights:
        check_restored(trainer, config_path)
    return {"val": trainer.validate(), "iteration": trainer.iteration}
