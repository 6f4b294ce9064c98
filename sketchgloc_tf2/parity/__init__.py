"""Parity tools: compare the port against reference bundles produced by the original code.

Run `python -m sketchgloc_tf2.parity BUNDLE_DIR [--only data|model|sample]`. Each part lives in its
own module (`data`, `model`, `sample`) and exposes `check(bundle_dir, report)`.
"""
