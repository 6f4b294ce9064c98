"""`python -m bert_tf2.convert` (console script `sketch-bert-convert`): command line.

Converts an original Sketch-BERT PyTorch checkpoint into a native checkpoint directory:

    python -m bert_tf2.convert --torch_checkpoint FILE.pth.tar --config FILE.yml --output DIR
        [--keep_token_row_typo]

`--config` is the YAML of the *target* model (its `task_types` decide the heads and the special
tokens); the checkpoint's own saved config says which token rows its position table holds. The
encoder is always converted; a head of the target's `task_types` is converted when the checkpoint
has it, else it keeps its fresh initialisation (printed). Reading `.pth.tar` needs no PyTorch
(a torch-free reader is used when `torch` is not installed; `pip install .[torch]` for torch's).
The output directory is a preset directory (checkpoint + `preset.json`), accepted by every tool
as CHECKPOINT_DIR (train/test, export) and by `SketchBert.from_preset`.
"""

import argparse
import sys

from flags.parsing import parse_or_status


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m bert_tf2.convert`."""
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.convert", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch_checkpoint", required=True,
                        help="original checkpoint file (.pth.tar written by upstream's trainer)")
    parser.add_argument("--config", required=True,
                        help="YAML config of the target model (original keys; its task_types "
                             "decide the heads and the special-token rows)")
    parser.add_argument("--output", required=True,
                        help="preset (native checkpoint) directory to write; an existing "
                             "checkpoint there is refused unless --overwrite")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a checkpoint already in --output (as a whole, atomically)")
    parser.add_argument("--keep_token_row_typo", action="store_true",
                        help="reproduce upstream's load_model token-row typo when re-aligning "
                             "position rows (docs/differences.md#sb-b15); off by default: rows are aligned as "
                             "intended")
    return parser


def main(argv=None) -> int:
    """Runs the conversion on `argv` (default `sys.argv[1:]`); returns the exit status.

    `--help` prints the description and every flag and returns 0 before TensorFlow is imported;
    a bad command line exits 2 (argparse). Errors are raised (`run()` prints them as one line).
    """
    parser = make_parser()
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from absl import logging

    from bert_tf2.convert import convert

    logging.set_verbosity(logging.INFO)
    summary = convert(args.torch_checkpoint, args.config, args.output,
                      fix_token_row_typo=not args.keep_token_row_typo, overwrite=args.overwrite)
    print(f"wrote {args.output}; fresh position rows: {summary.fresh_position_rows or 'none'}; "
          f"fresh heads: {summary.fresh_heads or 'none'}")
    return 0


def run() -> None:
    """Console-script entry point: errors become one `error: ...` line and exit status 1."""
    from sketch_common.errors import run_tool

    run_tool(main)
