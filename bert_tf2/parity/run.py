"""Runs the parity parts (`data`, `model`, `train`) against a Sketch-BERT reference bundle.

`run_parity(bundle_dir, only, rtol, atol)` fills a `sketch_common.parity_report.ParityReport`
with one row per reference array; `python -m bert_tf2.parity` (`flags/bert_parity.py`) prints it
and exits 0 only if every compared array is within tolerance.
"""

import importlib

from sketch_common.parity_report import ParityReport

PARTS = ("data", "model", "train")


def run_part(part, bundle_dir, report):
    """Runs `bert_tf2.parity.<part>.check(bundle_dir, report)`; a missing module is a skip row."""
    module_name = f"bert_tf2.parity.{part}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        report.skip(f"[{part}]", (), f"{module_name} is not available in this installation")
        return
    module.check(bundle_dir, report)


def run_parity(bundle_dir: str, only=None, rtol: float = 1e-4, atol: float = 1e-5):
    """The `ParityReport` of every part (or only `only`) on `bundle_dir`."""
    report = ParityReport(rtol=rtol, atol=atol)
    for part in [only] if only else PARTS:
        run_part(part, bundle_dir, report)
    return report
