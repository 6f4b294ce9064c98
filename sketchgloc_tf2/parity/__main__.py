"""`python -m sketchgloc_tf2.parity BUNDLE_DIR [--only data|model|sample]`.

Compares the port with a reference bundle produced by the original code, prints one row per
array and a summary line, and exits 0 only when every compared array is within tolerance.
"""

import argparse
import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sketch_common.parity_report import ParityReport  # noqa: E402

PARTS = ("data", "model", "sample")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.parity",
        description="Compare the SketchGloc port with a reference bundle of the original code.",
    )
    parser.add_argument("bundle_dir", help="folder laid out like sketchgloc_ref_small")
    parser.add_argument("--only", choices=PARTS, help="check one part only")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.bundle_dir):
        parser.error(f"{args.bundle_dir}: not a folder")
    report = ParityReport(rtol=args.rtol, atol=args.atol)
    for part in [args.only] if args.only else PARTS:
        module = importlib.import_module(f"sketchgloc_tf2.parity.{part}")
        module.check(args.bundle_dir, report)
    report.print_table()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
