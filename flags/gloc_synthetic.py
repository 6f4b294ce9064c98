"""`python -m sketchgloc_tf2.data.synthetic` (console script `sketchgloc-synthetic`).

    python -m sketchgloc_tf2.data.synthetic OUTPUT_DIR [--per_category 200] [--seed 0]

Writes the small procedural demo dataset (categories circle, face, house, star) as sketch-rnn
`OUTPUT_DIR/<category>.npz` files with train/valid/test splits (80/10/10 %) and prints their
paths. The same seed gives the same files.
"""

import argparse
import sys

from flags.parsing import parse_or_status, positive_int


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.data.synthetic`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.data.synthetic", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", help="folder of the <category>.npz files (created)")
    parser.add_argument("--per_category", type=positive_int, default=200,
                        help="drawings per category, all splits together (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), writes the dataset; returns the exit status."""
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2.data.synthetic import write_dataset

    for path in write_dataset(args.output_dir, args.per_category, args.seed):
        print(path)
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
