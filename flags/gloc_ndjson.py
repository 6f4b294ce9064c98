"""`python -m sketchgloc_tf2.data.ndjson` (console script `sketchgloc-ndjson`): command line.

    python -m sketchgloc_tf2.data.ndjson FILE.ndjson [...] --output_dir DIR
        [--valid_fraction 0.05] [--test_fraction 0.05] [--seed 0] [--recognized_only]
        [--overwrite]

Converts Quick, Draw! simplified `.ndjson` files into sketch-rnn `DIR/<word>.npz` files (int16
stroke-3 offsets, train/valid/test splits from a seeded permutation) and prints the written
paths. Every input is checked before anything is written; a bad line is named FILE:LINE in one
`error: ...` line, exit status 1. See `sketchgloc_tf2.data.ndjson` for the accepted input and
how category names become file names.
"""

import argparse
import sys

from flags.parsing import parse_or_status


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.data.ndjson`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.data.ndjson", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ndjson", nargs="+",
                        help="Quick, Draw! simplified .ndjson files (a category spread over "
                             "several files is merged)")
    parser.add_argument("--output_dir", required=True,
                        help="folder of the <word>.npz files (created if needed)")
    parser.add_argument("--valid_fraction", type=float, default=0.05,
                        help="share of each category's drawings in the valid split, in [0, 1) "
                             "(default 0.05)")
    parser.add_argument("--test_fraction", type=float, default=0.05,
                        help="share in the test split; valid + test below 1 (default 0.05)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split permutation (default 0)")
    parser.add_argument("--recognized_only", action="store_true",
                        help='drop drawings marked "recognized": false')
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing <word>.npz files in --output_dir (default: "
                             "refuse)")
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), converts; returns the exit status.

    Raises:
        SketchDataError, SketchConfigError: bad input or output folder.
    """
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2.data.ndjson import convert

    for path in convert(args.ndjson, args.output_dir, args.valid_fraction, args.test_fraction,
                        args.seed, args.recognized_only, args.overwrite):
        print(path)
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
