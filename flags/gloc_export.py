"""`python -m sketchgloc_tf2.export` (console script `sketchgloc-export`): command line.

    python -m sketchgloc_tf2.export CHECKPOINT_DIR EXPORT_BASE [--version N] [--encode_block 32]
        [--normalizing_scale_factor S] [--jit_compile]

Exports a SketchGloc checkpoint (a native checkpoint directory or an original TF1 checkpoint) as
the TF Serving SavedModel `EXPORT_BASE/N/` with the signatures `serving_default` (encode),
`sample`, `reconstruct` and `complete` (see `sketchgloc_tf2.export` and docs/serving.md). The
version folder appears complete or not at all. A bad EXPORT_BASE or --version is reported before
the checkpoint is loaded; every error is one `error: ...` line and exit status 1.
"""

import argparse
import sys

from flags.parsing import parse_or_status

DEFAULT_ENCODE_BLOCK = 32  # sketchgloc_tf2.export.DEFAULT_ENCODE_BLOCK (not imported: no TF here)


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m sketchgloc_tf2.export`."""
    parser = argparse.ArgumentParser(
        prog="python -m sketchgloc_tf2.export", description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint_dir",
                        help="native checkpoint directory (model_config.json + model.weights.h5) "
                             "or an original TF1 checkpoint prefix or folder")
    parser.add_argument("export_base",
                        help="model base path a server watches; the export goes to "
                             "EXPORT_BASE/N (created if needed)")
    parser.add_argument("--version", type=int, default=None,
                        help="version number N >= 1 (default: one more than the largest "
                             "numbered version in EXPORT_BASE, 1 if none); an existing version "
                             "is never overwritten")
    parser.add_argument("--encode_block", type=int, default=DEFAULT_ENCODE_BLOCK,
                        help="sketches per encoder call inside the graph (the stroke encoder "
                             f"needs a static batch; default {DEFAULT_ENCODE_BLOCK})")
    parser.add_argument("--normalizing_scale_factor", type=float, default=None,
                        help="override the config's scale factor (original Quick, Draw! units "
                             "per model unit; default: the checkpoint's model_config.json)")
    parser.add_argument("--jit_compile", action="store_true",
                        help="compile the decoding loop with XLA (the server then needs "
                             "--xla_cpu_compilation_enabled=true; outputs then equal the "
                             "XLA-compiled Sampler's)")
    return parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), exports; returns the exit status.

    Raises:
        SketchConfigError: a bad --version or EXPORT_BASE (before the checkpoint is loaded).
        SketchCheckpointError: an unreadable checkpoint.
    """
    args, status = parse_or_status(make_parser(), sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from sketchgloc_tf2 import export
    from sketchgloc_tf2.convert import load_any_checkpoint
    from sketchgloc_tf2.errors import SketchConfigError

    if args.version is not None and args.version < 1:
        raise SketchConfigError(f"--version must be a positive integer, got {args.version}")
    export.check_export_base(args.export_base)
    model, hparams = load_any_checkpoint(args.checkpoint_dir)
    if args.normalizing_scale_factor is not None:
        hparams = hparams.replace(normalizing_scale_factor=args.normalizing_scale_factor)
    path = export.export_model(model, hparams.eval_copy(), args.export_base, args.version,
                               args.encode_block, args.jit_compile)
    print(f"wrote {path} (signatures serving_default = encode, sample, reconstruct, complete)")
    return 0


def run() -> None:
    """Console-script entry point."""
    from sketch_common.errors import run_tool

    run_tool(main)
