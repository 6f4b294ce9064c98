"""`python -m bert_tf2.parity BUNDLE_DIR [--only data|model|train] [--rtol R] [--atol A]`.

Runs the data, model and train parts against a Sketch-BERT reference bundle, prints one row per
reference array and a summary line, and exits 0 only if every compared array is within
tolerance.
"""

import argparse
import importlib
import os
import sys

from sketch_common.parity_report import ParityReport

PARTS = ("data", "model", "train")


def _run_part(part, bundle_dir, report):
    module_name = f"bert_tf2.parity.{part}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        report.skip(f"[{part}]", (), f"{module_name} is not available in this installation")
        return
    module.check(bundle_dir, report)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.parity",
        description="Compare the Keras Sketch-BERT port with a reference bundle.")
    parser.add_argument("bundle_dir", help="reference bundle folder (inputs.npz, outputs.npz, "
                                           "configs and .pth.tar checkpoints)")
    parser.add_argument("--only", choices=PARTS, help="run a single part")
    parser.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance")
    parser.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.bundle_dir):
        parser.error(f"{args.bundle_dir} is not a directory")
    report = ParityReport(rtol=args.rtol, atol=args.atol)
    for part in [args.only] if args.only else PARTS:
        _run_part(part, args.bundle_dir, report)
    report.print_table()
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
