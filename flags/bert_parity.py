"""`python -m bert_tf2.parity` (console script `sketch-bert-parity`): command line.

    python -m bert_tf2.parity BUNDLE_DIR [--only data|model|train] [--rtol R] [--atol A]

Compares the Keras Sketch-BERT port with a reference bundle (a folder laid out like
tests/fixtures/sketchbert_ref_small: the original checkpoints, configs, inputs.npz and the
original code's outputs.npz). Loads the original checkpoint through the converter, rebuilds every
deterministic data batch from the bundle's raw data, runs the port, and prints one row per
reference array (name, shape, max abs error, max rel error, ok/FAIL or "not compared" with the
reason) and a summary line with compared/total. Exit status 0 only if every compared array is
within tolerance (|port - ref| <= atol + rtol * |ref|), 1 otherwise, 2 for a bad command line.
"""

import argparse
import os
import sys

from flags.parsing import add_tolerance_arguments, parse_or_status

PARTS = ("data", "model", "train")


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m bert_tf2.parity`."""
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.parity", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle_dir", help="reference bundle folder (inputs.npz, outputs.npz, "
                                           "configs and .pth.tar checkpoints)")
    parser.add_argument("--only", choices=PARTS,
                        help="run a single part: data (batches), model (forward pass, "
                             "intermediates, losses, gradients) or train (one optimizer step); "
                             "default: all three")
    add_tolerance_arguments(parser)
    return parser


def main(argv=None) -> int:
    """Runs the comparison on `argv` (default `sys.argv[1:]`); returns the exit status.

    `--help` prints the description and every flag and returns 0 before TensorFlow is imported.
    """
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    if not os.path.isdir(args.bundle_dir):
        parser.error(f"{args.bundle_dir} is not a directory")
    from bert_tf2.parity.run import run_parity

    report = run_parity(args.bundle_dir, args.only, args.rtol, args.atol)
    report.print_table()
    return report.exit_code()


def run() -> None:
    """Console-script entry point: errors become one `error: ...` line and exit status 1."""
    from sketch_common.errors import run_tool

    run_tool(main)
