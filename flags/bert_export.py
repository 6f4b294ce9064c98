"""`python -m bert_tf2.export` (console script `sketch-bert-export`): command line.

Exports a native Sketch-BERT checkpoint directory as a versioned SavedModel for TF Serving:

    python -m bert_tf2.export CHECKPOINT_DIR EXPORT_BASE [--version N]

writes `EXPORT_BASE/N/` (N = one more than the largest numbered version there, 1 for an empty
base) through a hidden temporary folder renamed at the end. Signatures: `serving_default`
(embedding), `classify` (with a `sketchclsinput` head), `retrieval_embed` (with a
`sketchretrieval` head); each takes `strokes` float32 [B, P, 3] (dx, dy, pen_lift in original
Quick, Draw! units) and `lengths` int32 [B]. See `bert_tf2.export` and docs/serving.md.
EXPORT_BASE is checked before the model is loaded.
"""

import argparse
import sys

from flags.parsing import parse_or_status


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m bert_tf2.export`."""
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.export", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint_dir",
                        help="native checkpoint directory (config.yml + model.weights.h5), "
                             "written by the trainer (RUN/best, RUN/latest) or by "
                             "python -m bert_tf2.convert")
    parser.add_argument("export_base",
                        help="model base path a TF Serving server watches; the export goes to "
                             "EXPORT_BASE/N (created if missing; must be a writable folder)")
    parser.add_argument("--version", type=int, default=None,
                        help="version number N, a positive integer that does not exist yet "
                             "(default: one more than the largest existing version, 1 if none)")
    return parser


def main(argv=None) -> int:
    """Runs the export on `argv` (default `sys.argv[1:]`); returns the exit status.

    `--help` prints the description and the arguments and returns 0 before TensorFlow is
    imported; a bad command line exits 2 (argparse). Errors of the export are raised (`run()`
    prints them as one line).
    """
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from bert_tf2 import export

    path, signatures = export.export_checkpoint(args.checkpoint_dir, args.export_base,
                                                args.version)
    print(f"wrote {path} (signatures {', '.join(signatures)}; serving_default = embed)")
    return 0


def run() -> None:
    """Console-script entry point: errors become one `error: ...` line and exit status 1."""
    from sketch_common.errors import run_tool

    run_tool(main)
