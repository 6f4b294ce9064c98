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

import json
import sys

from flags.parsing import parse_or_status, preset_build_parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), builds the preset; returns the exit status."""
    parser = preset_build_parser("python -m sketchgloc_tf2.preset_builder",
                                 __doc__.split("\n\n", 2)[2])
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from absl import logging

    from sketchgloc_tf2.preset_builder import build_preset

    logging.set_verbosity(logging.INFO)
    metadata = build_preset(args.name, args.data_dir, args.work_dir, args.output_dir,
                            args.overwrite)
    print(json.dumps(metadata, indent=1))
    return 0


def run() -> None:
    """Console-script entry point."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketch_common.errors import run_tool

    run_tool(main)
