"""Parity tools: compare the port against reference bundles produced by the original code.

Run `python -m sketchgloc_tf2.parity BUNDLE_DIR [--only data|model|sample]`. Each part lives in its
own module (`data`, `model`, `sample`) and exposes `check(bundle_dir, report)`.
"""

import importlib

from sketch_common.parity_report import ParityReport

PARTS = ("data", "model", "sample")


def compare_bundle(bundle_dir: str, parts=PARTS, rtol: float = 1e-4, atol: float = 1e-5) -> int:
    """Runs the `check` of each part on a bundle, prints the table; returns the exit status
    (0 only when every compared array is within tolerance)."""
    report = ParityReport(rtol=rtol, atol=atol)
    for part in parts:
        importlib.import_module(f"sketchgloc_tf2.parity.{part}").check(bundle_dir, report)
    report.print_table()
    return report.exit_code()
