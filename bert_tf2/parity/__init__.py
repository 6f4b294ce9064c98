"""Sketch-BERT parity tool: compare the port against a reference bundle.

Run `python -m bert_tf2.parity BUNDLE_DIR [--only data|model|train]`. Each part lives in its own
module (`data`, `model`, `train`) and exposes `check(bundle_dir, report)`, filling a shared
`sketch_common.parity_report.ParityReport`.
"""
