"""The command line shared by the preset builders (`python -m <package>.preset_builder NAME`).

`flags/gloc_build_preset.py` and `flags/bert_build_preset.py` hold each tool's description and
hand over to `main` with their package's `build_preset`.
"""

import argparse
import json
import sys

from flags.parsing import parse_or_status


def make_parser(prog: str, description: str):
    """The argument parser of a preset builder."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the registered preset to rebuild")
    parser.add_argument("--data_dir", default="../shared/data/quickdraw",
                        help="folder of the <category>.npz drawings (default "
                             "../shared/data/quickdraw)")
    parser.add_argument("--work_dir", default="runs/presets",
                        help="folder of the training runs, evaluation outputs and build records "
                             "(default runs/presets); an interrupted build resumes from it")
    parser.add_argument("--output_dir",
                        help="the preset directory to write (default WORK_DIR/NAME_preset)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --output_dir")
    return parser


def main(argv, prog: str, description: str, builder_module: str) -> int:
    """Parses `argv` (default `sys.argv[1:]`), builds the preset and prints its metadata.

    Args:
        argv: the arguments, or None for `sys.argv[1:]`.
        prog, description: the tool's name and `--help` text.
        builder_module: the module whose `build_preset(name, data_dir, work_dir, output_dir,
            overwrite)` runs the recipe (imported only after parsing, so `--help` is fast).

    Returns:
        The exit status (0; 2 for a bad command line). Errors are raised (`run_tool` prints
        them as one line).
    """
    args, status = parse_or_status(make_parser(prog, description),
                                   sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    import importlib

    from absl import logging

    logging.set_verbosity(logging.INFO)
    build_preset = importlib.import_module(builder_module).build_preset
    metadata = build_preset(args.name, args.data_dir, args.work_dir, args.output_dir,
                            args.overwrite)
    print(json.dumps(metadata, indent=1))
    return 0


def run(main_function) -> None:
    """Console-script entry point: errors become one `error: ...` line, exit status 1."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketch_common.errors import run_tool

    run_tool(main_function)
