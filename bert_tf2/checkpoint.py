"""Native Sketch-BERT checkpoint directories, written atomically as a whole.

A directory holds:

* `config.yml` – the YAML config the model is built from (original keys);
* `model.weights.h5` – the Keras weights of the `SketchBertModel` (encoder + heads);
* `checkpoint.json` – metadata (format version, task types, the size and SHA-256 of every other
  file under `files`, and whatever the writer adds, e.g. the converter's list of freshly
  initialised rows or the trainer's counters);
* optionally more files of the writer (the trainer's `optimizer.npz`).

`save_checkpoint(DIR, ...)` writes every file into the hidden folder `.DIR.partial-<random>`
next to `DIR`, renames it `.DIR.ready`, moves the previous `DIR` aside as `.DIR.old` and renames
`.DIR.ready` to `DIR`, so a reader never sees files of two different saves. A save killed
half-way leaves only hidden folders; `recover_checkpoint(DIR)` (run by every save and by the
trainer's `continue`) completes or rolls back an interrupted swap and deletes the rest.
`check_checkpoint(DIR)` says which file of a directory is missing, unreadable or from another
save (checked against `files` in `checkpoint.json`).
"""

import hashlib
import json
import os
import shutil
import tempfile

from bert_tf2.config import load_config
from bert_tf2.errors import BertCheckpointError, BertConfigError
from bert_tf2.model import build_model
from bert_tf2.state_dicts import export_state_dicts, import_state_dicts

CONFIG_FILE = "config.yml"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "checkpoint.json"
FORMAT_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_PARTIAL, _READY, _OLD = ".partial-", ".ready", ".old"


def _hidden(directory, suffix):
    parent, name = os.path.split(os.path.abspath(directory))
    return os.path.join(parent, f".{name}{suffix}")


def _file_record(path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


def recover_checkpoint(directory) -> list:
    """Finishes or rolls back an interrupted `save_checkpoint` of `directory`; removes leftovers.

    When `directory` is missing but a complete `.NAME.ready` (the new checkpoint) or `.NAME.old`
    (the previous one) exists, it is renamed to `directory`; every other hidden folder of an
    interrupted save is deleted.

    Returns:
        The paths removed or renamed (for logging).
    """
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    actions = []
    if not os.path.isdir(parent):
        return actions
    for candidate in (_hidden(directory, _READY), _hidden(directory, _OLD)):
        if not os.path.exists(directory) and os.path.isdir(candidate):
            os.rename(candidate, directory)
            actions.append(candidate)
    for entry in os.listdir(parent):
        if entry in (f".{name}{_READY}", f".{name}{_OLD}") or \
                entry.startswith(f".{name}{_PARTIAL}"):
            path = os.path.join(parent, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            actions.append(path)
    return actions


def save_checkpoint(directory, model, config, metadata=None, extra_files=None):
    """Writes a native checkpoint directory atomically (see the module docstring).

    Args:
        directory: the checkpoint directory; a previous one is replaced as a whole.
        model: the `SketchBertModel`.
        config: its `bert_tf2.config.Config`.
        metadata: optional JSON-serialisable dict stored in `checkpoint.json`.
        extra_files: optional {file name: callable(path) writing it} of further files.

    Raises:
        BertCheckpointError: the folder cannot be written (full disk, read-only folder); the
            previous checkpoint in `directory` is left as it was.
    """
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    staging = None
    try:
        os.makedirs(parent, exist_ok=True)
        recover_checkpoint(directory)
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}{_PARTIAL}")
        os.chmod(staging, 0o755)
        config.save(os.path.join(staging, CONFIG_FILE))
        model.save_weights(os.path.join(staging, WEIGHTS_FILE))
        for file_name, write in (extra_files or {}).items():
            write(os.path.join(staging, file_name))
        record = {"format_version": FORMAT_VERSION, "task_types": list(config["task_types"])}
        record.update(metadata or {})
        record["files"] = {entry: _file_record(os.path.join(staging, entry))
                           for entry in sorted(os.listdir(staging))}
        with open(os.path.join(staging, METADATA_FILE), "w", encoding="utf-8") as stream:
            json.dump(record, stream, indent=2)
        ready, old = _hidden(directory, _READY), _hidden(directory, _OLD)
        os.rename(staging, ready)
        staging = None
        if os.path.exists(directory):
            os.rename(directory, old)
        os.rename(ready, directory)
        if os.path.exists(old):
            shutil.rmtree(old)
    except OSError as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        kept = "the previous checkpoint there is unchanged" if os.path.isdir(directory) else \
            "no checkpoint was written"
        raise BertCheckpointError(
            f"cannot write checkpoint {directory}: {error.strerror or error}; {kept}; free disk "
            "space or make the folder writable, then resume with load_pretrained: continue") \
            from error


def check_checkpoint(directory) -> dict:
    """Validates a checkpoint directory without building the model.

    Checks that `config.yml` and `model.weights.h5` exist, that the weights file is HDF5, and,
    when `checkpoint.json` lists `files` (directories written by `save_checkpoint`), that every
    listed file exists with the recorded size and SHA-256.

    Returns:
        The parsed `checkpoint.json` (empty when the directory has none).

    Raises:
        BertCheckpointError: naming the directory, the broken file and what to do.
    """
    if not os.path.isdir(directory):
        hint = " (a save was interrupted; run the trainer with load_pretrained: continue to " \
            "recover it)" if os.path.isdir(_hidden(directory, _READY)) else ""
        raise BertCheckpointError(
            f"{directory} is not a directory{hint}; pass a checkpoint directory written by the "
            "trainer or by python -m bert_tf2.convert")
    for file_name in (CONFIG_FILE, WEIGHTS_FILE):
        if not os.path.isfile(os.path.join(directory, file_name)):
            raise BertCheckpointError(
                f"{os.path.join(directory, file_name)} not found: {directory} is not a native "
                "Sketch-BERT checkpoint; create one with `python -m bert_tf2.convert` or the "
                "trainer")
    metadata = {}
    metadata_path = os.path.join(directory, METADATA_FILE)
    if os.path.exists(metadata_path):
        try:
            with open(metadata_path, encoding="utf-8") as handle:
                metadata = json.load(handle)
        except (OSError, ValueError) as error:
            raise BertCheckpointError(
                f"{metadata_path} is unreadable or not JSON ({error}); the checkpoint is "
                "damaged: use another one (best/, iter_<t>/)") from error
        if not isinstance(metadata, dict):
            raise BertCheckpointError(f"{metadata_path} is not a JSON object; the checkpoint is "
                                      "damaged: use another one (best/, iter_<t>/)")
    for file_name, expected in (metadata.get("files") or {}).items():
        path = os.path.join(directory, file_name)
        if not os.path.isfile(path):
            raise BertCheckpointError(f"{path} is missing (listed in {metadata_path}); the "
                                      "checkpoint is incomplete: use another one (best/, "
                                      "iter_<t>/)")
        if _file_record(path) != expected:
            raise BertCheckpointError(
                f"{path} does not match {metadata_path} (size or SHA-256 differ: truncated, "
                "modified, or from another save); use another checkpoint (best/, iter_<t>/)")
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    with open(weights_path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise BertCheckpointError(
                f"{weights_path} is not an HDF5 weights file (empty, truncated or garbage); "
                "use another checkpoint or convert / train again")
    return metadata


def load_checkpoint(directory, config=None, fix_token_row_typo=True):
    """Loads a native checkpoint directory.

    Args:
        directory: a directory written by `save_checkpoint` (or `python -m bert_tf2.convert`).
        config: optional target `Config` (or YAML path). When given, the model is built from it
            and filled from the checkpoint through the original-layout mapping, so a different
            token layout (e.g. fine-tuning `sketchclsinput` from a `maskrec` checkpoint) gets
            the position rows re-aligned and heads missing from the checkpoint keep their init.
        fix_token_row_typo: see `bert_tf2.state_dicts.remap_position_rows`.

    Returns:
        `(config, model)`.

    Raises:
        BertCheckpointError: missing, damaged or mismatched files (`check_checkpoint`), a
            config that does not load, or weights that do not fit the config.
    """
    check_checkpoint(directory)
    config_path = os.path.join(directory, CONFIG_FILE)
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    try:
        saved_config = load_config(config_path)
    except BertConfigError as error:
        raise BertCheckpointError(f"checkpoint {directory}: {error}") from error
    model = build_model(saved_config)
    try:
        model.load_weights(weights_path)
    except ValueError as error:
        raise BertCheckpointError(
            f"{weights_path}: weights do not fit the model of {config_path}: "
            f"{' '.join(str(error).split())}; keep the directory's config.yml and weights "
            "together") from error
    except (OSError, KeyError, TypeError) as error:
        raise BertCheckpointError(
            f"{weights_path} cannot be read ({' '.join(str(error).split())}); the file is "
            "damaged: use another checkpoint or convert / train again") from error
    if config is None:
        return saved_config, model
    if isinstance(config, str):
        config = load_config(config)
    target = build_model(config)
    import_state_dicts(target, export_state_dicts(model), list(config["task_types"]),
                       list(saved_config["task_types"]), source=directory,
                       fix_token_row_typo=fix_token_row_typo)
    return config, target
