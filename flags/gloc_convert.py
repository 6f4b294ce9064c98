"""`python -m sketchgloc_tf2.convert` (console script `sketchgloc-convert`): command line.

    python -m sketchgloc_tf2.convert --tf1_checkpoint PREFIX --config model_config.json \
        --output DIR [--overwrite]

Converts an original SketchGloc TF1 checkpoint into a native checkpoint directory
(`DIR/model_config.json` + `DIR/model.weights.h5`, written atomically), which every tool accepts
as CHECKPOINT_DIR. TF1 itself is not needed. A DIR that already holds a checkpoint is refused
unless --overwrite is given; every error is one `error: ...` line and exit status 1.
"""

import argparse
import sys

from flags.parsing import parse_or_status


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.convert`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.convert", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tf1_checkpoint", required=True,
                        help="TF1 checkpoint prefix (e.g. ckpt/vector-123, without .index) or "
                             "the folder of its 'checkpoint' file (the latest one is taken)")
    parser.add_argument("--config", required=True,
                        help="the model_config.json of that checkpoint (upstream's or the "
                             "port's); its cell types and sizes must match the checkpoint")
    parser.add_argument("--output", required=True,
                        help="native checkpoint directory to write (created if needed)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a checkpoint already in --output (default: refuse)")
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), converts; returns the exit status.

    Raises:
        SketchConfigError: --output is a file or holds a checkpoint (without --overwrite).
        SketchCheckpointError: an unreadable or mismatched TF1 checkpoint.
    """
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2.convert import convert_checkpoint

    print(convert_checkpoint(args.tf1_checkpoint, args.config, args.output, args.overwrite))
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
