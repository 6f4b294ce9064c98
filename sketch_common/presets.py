"""Presets (keras-hub's `from_preset` / `save_to_preset`): named, ready-to-use checkpoints.

A preset directory is a model package's native checkpoint directory plus `preset.json`, which
describes it (description, training data and licence, measured metrics). Presets shipped with a
package are registered by name in the package's `presets.py` (name -> that metadata) and live in
the package's `preset_files/<name>/` folder; any other preset directory is loaded by its path.
"""

import json
import os

from sketch_common.atomic_io import write_text
from sketch_common.errors import UserError

PRESET_FILE = "preset.json"


class PresetError(UserError, ValueError):
    """An unknown preset name, or a preset directory that cannot be used."""


def preset_directory(name_or_directory: str, registry: dict, root: str) -> str:
    """The folder of a preset given by registered name or by path.

    Args:
        name_or_directory: a name in `registry`, or a preset (checkpoint) directory.
        registry: the package's registered presets (name -> metadata).
        root: the package's folder of shipped presets (`preset_files/`).

    Raises:
        PresetError: neither a registered name nor a directory (the message lists the registered
            names), a registered preset whose files are missing from the installation, or a
            `preset.json` that is not a JSON object.
    """
    name_or_directory = os.fspath(name_or_directory)
    if os.path.isdir(name_or_directory):
        read_metadata(name_or_directory)  # a damaged preset.json fails here, named
        return name_or_directory
    if name_or_directory in registry:
        folder = os.path.join(root, name_or_directory)
        if not os.path.isdir(folder):
            raise PresetError(f"preset {name_or_directory!r} is registered but its files are "
                              f"missing ({folder}); reinstall the package")
        return folder
    known = ", ".join(sorted(registry)) or "none"
    raise PresetError(f"{name_or_directory!r} is neither a registered preset (registered: "
                      f"{known}) nor a preset directory")


def registry(root: str, names) -> dict:
    """A package's preset registry: each shipped name -> its `preset.json` metadata (description,
    data, licence, metrics, recipe), read from `root/<name>/`; `{}` for a name whose files are
    missing (`preset_directory` then says so)."""
    return {name: read_metadata(os.path.join(root, name)) if os.path.isdir(
        os.path.join(root, name)) else {} for name in names}


def build_output_directory(name: str, recipes: dict, work_dir: str, output_dir, overwrite: bool,
                           error_type=UserError) -> str:
    """Checks a preset build request before any work; returns the preset directory to write.

    Args:
        name: the preset to build.
        recipes: the package's recipes (name -> recipe).
        work_dir: the build's work folder (created).
        output_dir: the requested preset directory, or None for `WORK_DIR/<name>_preset`.
        overwrite: an existing `output_dir` may be replaced.
        error_type: the exception type raised (the package's configuration error).

    Raises:
        error_type: an unknown name (the known ones are listed), or an existing `output_dir`
            without `overwrite`.
    """
    if name not in recipes:
        raise error_type(f"no recipe for preset {name!r}; known: {', '.join(recipes)}")
    output_dir = output_dir or os.path.join(work_dir, f"{name}_preset")
    if os.path.exists(output_dir) and not overwrite:
        raise error_type(f"{output_dir} exists; pass --overwrite to replace it")
    os.makedirs(work_dir, exist_ok=True)
    return output_dir


def metadata_writer(metadata: dict):
    """A `callable(path)` writing `metadata` as `preset.json` there (for checkpoint writers that
    take extra files, so the preset is written together with the checkpoint)."""
    text = json.dumps(metadata, indent=1) + "\n"
    return lambda path: write_text(path, text)


def read_metadata(directory: str) -> dict:
    """`directory/preset.json` as a dict (empty when the directory has none, e.g. a plain
    checkpoint directory).

    Raises:
        PresetError: the file exists but is not a JSON object.
    """
    path = os.path.join(directory, PRESET_FILE)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            metadata = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PresetError(f"{path}: not readable JSON ({error}); write the preset again") from None
    if not isinstance(metadata, dict):
        raise PresetError(f"{path}: expected a JSON object; write the preset again")
    return metadata


QUICKDRAW_ATTRIBUTION = ("Quick, Draw! drawings by Google (https://quickdraw.withgoogle.com/data), "
                         "licensed CC BY 4.0; the shipped weights were trained here on their "
                         "sketch-rnn npz train splits")
