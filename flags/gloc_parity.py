"""`python -m sketchgloc_tf2.parity` (console script `sketchgloc-parity`): command line.

    python -m sketchgloc_tf2.parity BUNDLE_DIR [--only data|model|sample] [--rtol 1e-4]
        [--atol 1e-5]

Compares the SketchGloc port with a reference bundle computed by the original code (a folder laid
out like tests/fixtures/sketchgloc_ref_small: TF1 checkpoint, config, inputs, outputs; see
docs/parity.md). Prints one row per array (name, shape, max abs error, max rel error, ok/FAIL)
and a summary line; exits 0 only when every compared array is within tolerance
(|port - reference| <= atol + rtol * |reference|).
"""

import argparse
import os
import sys

from flags.parsing import add_tolerance_arguments, parse_or_status

PARTS = ("data", "model", "sample")


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.parity`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.parity", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle_dir", help="folder laid out like sketchgloc_ref_small")
    parser.add_argument("--only", choices=PARTS,
                        help="check one part only: data (rebuilt batches), model (forward, "
                             "loss, gradients, optimizer step) or sample (greedy decoding); "
                             "default: all three")
    add_tolerance_arguments(parser)
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), compares; returns 0 when every array matches."""
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    if not os.path.isdir(args.bundle_dir):
        parser.print_usage(sys.stderr)
        print(f"error: {args.bundle_dir}: not a folder", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketchgloc_tf2.parity import compare_bundle

    return compare_bundle(args.bundle_dir, [args.only] if args.only else PARTS, args.rtol,
                          args.atol)


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
