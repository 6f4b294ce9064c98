"""`python -m sketchgloc_tf2.preset_builder NAME` (console script `sketchgloc-build-preset`).

    python -m sketchgloc_tf2.preset_builder sketchgloc_ds3_small \
        [--data_dir ../shared/data/quickdraw] [--work_dir runs/presets] [--output_dir DIR]
        [--overwrite]

Rebuilds a shipped SketchGloc preset from the drawings: trains it with its recipe, generates
from every reorganised test sketch, measures Ret and Rec, and writes the preset directory with
the numbers in `preset.json` (printed at the end). A killed build resumes from WORK_DIR.
Presets: sketchgloc_ds3_small.
To replace the shipped files: --output_dir sketchgloc_tf2/preset_files/NAME --overwrite.
"""

from flags import preset_build


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), builds the preset; returns the exit status."""
    return preset_build.main(argv, "python -m sketchgloc_tf2.preset_builder",
                             __doc__.split("\n\n", 2)[2], "sketchgloc_tf2.preset_builder")


def run() -> None:
    """Console-script entry point."""
    preset_build.run(main)
