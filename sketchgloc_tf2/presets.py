"""The SketchGloc presets shipped in this package (name -> metadata; see `sketch_common.presets`).

Each registered preset lives in `sketchgloc_tf2/preset_files/<name>/` (a checkpoint directory
plus `preset.json`); its registry entry is that `preset.json` (description, data and licence,
metrics, the command that rebuilds it). `docs/presets.md` says how each was trained and what it
measures.
"""

import os

from sketch_common.presets import registry

PRESET_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preset_files")
PRESETS = registry(PRESET_ROOT, ("sketchgloc_ds3_small",))
