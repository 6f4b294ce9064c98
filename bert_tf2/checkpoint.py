"""Native Sketch-BERT checkpoint directories.

A directory holds:

* `config.yml` – the YAML config the model is built from (original keys);
* `model.weights.h5` – the Keras weights of the `SketchBertModel` (encoder + heads);
* `checkpoint.json` – metadata (format version, task types and whatever the writer adds, e.g.
  the converter's list of freshly initialised rows or the trainer's counters).

Files are written atomically (temporary file in the same directory, then `os.replace`).
"""

import json
import os
import tempfile

from bert_tf2.config import load_config
from bert_tf2.errors import BertCheckpointError
from bert_tf2.model import build_model

CONFIG_FILE = "config.yml"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "checkpoint.json"
FORMAT_VERSION = 1


def _atomic_write(path, write, suffix):
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def save_checkpoint(directory, model, config, metadata=None):
    """Writes a native checkpoint directory.

    Args:
        directory: created if needed; existing files of the same names are replaced.
        model: the `SketchBertModel`.
        config: its `bert_tf2.config.Config`.
        metadata: optional JSON-serialisable dict stored in `checkpoint.json`.
    """
    os.makedirs(directory, exist_ok=True)
    config.save(os.path.join(directory, CONFIG_FILE))
    _atomic_write(os.path.join(directory, WEIGHTS_FILE), model.save_weights, ".weights.h5")
    record = {"format_version": FORMAT_VERSION, "task_types": list(config["task_types"])}
    record.update(metadata or {})

    def write_metadata(path):
        with open(path, "w", encoding="utf-8") as stream:
            json.dump(record, stream, indent=2)

    _atomic_write(os.path.join(directory, METADATA_FILE), write_metadata, ".json")


def load_checkpoint(directory, config=None, fix_token_row_typo=True):
    """Loads a native checkpoint directory.

    Args:
        directory: a directory written by `save_checkpoint` (or `python -m bert_tf2.convert`).
        config: optional target `Config` (or YAML path). When given, the model is built from it
            and filled from the checkpoint through the original-layout mapping, so a different
            token layout (e.g. fine-tuning `sketchclsinput` from a `maskrec` checkpoint) gets
            the position rows re-aligned and heads missing from the checkpoint keep their init.
        fix_token_row_typo: see `bert_tf2.convert.remap_position_rows`.

    Returns:
        `(config, model)`.

    Raises:
        BertCheckpointError: missing files or weights that do not fit the config.
    """
    from bert_tf2.convert import export_state_dicts, import_state_dicts

    config_path = os.path.join(directory, CONFIG_FILE)
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            raise BertCheckpointError(
                f"{path} not found: {directory} is not a native Sketch-BERT checkpoint; create "
                "one with `python -m bert_tf2.convert` or the trainer")
    saved_config = load_config(config_path)
    model = build_model(saved_config)
    try:
        model.load_weights(weights_path)
    except ValueError as error:
        raise BertCheckpointError(
            f"{weights_path}: weights do not fit the model of {config_path}: {error}; keep the "
            "directory's config.yml and weights together") from error
    if config is None:
        return saved_config, model
    if isinstance(config, str):
        config = load_config(config)
    target = build_model(config)
    import_state_dicts(target, export_state_dicts(model), list(config["task_types"]),
                       list(saved_config["task_types"]), source=directory,
                       fix_token_row_typo=fix_token_row_typo)
    return config, target
