"""Converts original Sketch-BERT PyTorch checkpoints into native checkpoint directories.

    python -m bert_tf2.convert --torch_checkpoint FILE.pth.tar --config FILE.yml --output DIR

`--config` is the YAML of the *target* model (its `task_types` decide the heads and the special
tokens); the checkpoint's own saved config (`args._cfg_dict.task_types`) says which token rows its
position table holds. The encoder (`netE_state`) is always converted; each head of the target's
`task_types` is converted when the checkpoint has its `net_<task>_state`, else it keeps its fresh
initialisation (logged). The output directory is what `bert_tf2.checkpoint.load_checkpoint` reads.

The state-dict mapping is `bert_tf2.state_dicts`; the native format is `bert_tf2.checkpoint`
(this module depends on both, never the reverse). Command line: `flags/bert_convert.py`.
"""

import os

from bert_tf2.checkpoint import CONFIG_FILE, save_checkpoint
from bert_tf2.config import load_config
from bert_tf2.errors import BertCheckpointError
from bert_tf2.model import build_model
from bert_tf2.state_dicts import import_state_dicts
from bert_tf2.torch_checkpoint import load_torch_checkpoint
from sketch_common.presets import PRESET_FILE, metadata_writer


def checkpoint_task_types(checkpoint, source):
    """The `task_types` a torch checkpoint was trained with (from its saved `args`)."""
    try:
        return list(checkpoint["args"]["_cfg_dict"]["task_types"])
    except (KeyError, TypeError) as error:
        raise BertCheckpointError(
            f"{source}: no args._cfg_dict.task_types in the checkpoint, so its position-table "
            "token rows are unknown; pass a checkpoint written by the Sketch-BERT trainer") \
            from error


def load_torch_model(torch_checkpoint, config, use_torch=None, fix_token_row_typo=True):
    """Builds the model of `config` and fills it from an original `.pth.tar` checkpoint.

    Args:
        torch_checkpoint: path of the `.pth.tar` file.
        config: the target `Config` (or path of its YAML).
        use_torch: passed to `load_torch_checkpoint` (None = torch when importable).
        fix_token_row_typo: see `remap_position_rows`.

    Returns:
        `(model, ImportSummary)`.
    """
    if isinstance(config, str):
        config = load_config(config)
    checkpoint = load_torch_checkpoint(torch_checkpoint, use_torch=use_torch)
    if not isinstance(checkpoint, dict):
        raise BertCheckpointError(
            f"{torch_checkpoint}: expected the trainer's checkpoint dict, got "
            f"{type(checkpoint).__name__}")
    model = build_model(config)
    summary = import_state_dicts(
        model, checkpoint, list(config["task_types"]),
        checkpoint_task_types(checkpoint, torch_checkpoint), source=str(torch_checkpoint),
        fix_token_row_typo=fix_token_row_typo)
    return model, summary


def convert(torch_checkpoint, config_path, output_dir, use_torch=None, fix_token_row_typo=True,
            overwrite=False):
    """Converts a `.pth.tar` into a preset directory; returns the `ImportSummary`.

    The directory is a native checkpoint directory plus `preset.json` naming the source, so
    `SketchBert.from_preset(output_dir)` and every tool taking a CHECKPOINT_DIR read it.

    Raises:
        BertCheckpointError: `output_dir` already holds a checkpoint and `overwrite` is False
            (checked before anything is read), or the `.pth.tar` cannot be read or matched.
    """
    existing = os.path.join(output_dir, CONFIG_FILE)
    if os.path.exists(existing) and not overwrite:
        raise BertCheckpointError(f"--output {output_dir}: already holds a checkpoint "
                                  f"({CONFIG_FILE}); pass --overwrite to replace it, or choose "
                                  "another folder")
    config = load_config(config_path)
    model, summary = load_torch_model(torch_checkpoint, config, use_torch, fix_token_row_typo)
    preset = {
        "description": f"converted from the original checkpoint "
                       f"{os.path.basename(torch_checkpoint)}",
        "source": os.path.abspath(str(torch_checkpoint)),
        "task_types": list(config["task_types"]),
    }
    save_checkpoint(output_dir, model, config, metadata={
        "converted_from": str(torch_checkpoint),
        "fresh_position_rows": summary.fresh_position_rows,
        "fresh_heads": summary.fresh_heads,
        "fix_token_row_typo": fix_token_row_typo,
    }, extra_files={PRESET_FILE: metadata_writer(preset)})
    return summary


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_convert")
