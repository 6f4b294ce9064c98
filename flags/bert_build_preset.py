"""`python -m bert_tf2.preset_builder NAME` (console script `sketch-bert-build-preset`).

    python -m bert_tf2.preset_builder sketch_bert_qd336_small_cls \
        [--data_dir ../shared/data/quickdraw] [--work_dir runs/presets] [--output_dir DIR]
        [--overwrite]

Rebuilds a shipped Sketch-BERT preset from the drawings: builds the memmaps of every category,
trains with the preset's YAML recipe (`sketch_bert_qd336_small_cls` pre-trains
`sketch_bert_qd336_small` first), tests the best checkpoint on the whole test split and writes
the preset directory with the numbers in `preset.json` (printed at the end). A killed build
resumes from WORK_DIR. Presets: sketch_bert_qd336_small, sketch_bert_qd336_small_cls.
To replace the shipped files: --output_dir bert_tf2/preset_files/NAME --overwrite.
"""

import json
import sys

from flags.parsing import parse_or_status, preset_build_parser


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), builds the preset; returns the exit status."""
    parser = preset_build_parser("python -m bert_tf2.preset_builder",
                                 __doc__.split("\n\n", 2)[2])
    args, status = parse_or_status(parser, sys.argv[1:] if argv is None else argv)
    if args is None:
        return status
    from absl import logging

    from bert_tf2.preset_builder import build_preset

    logging.set_verbosity(logging.INFO)
    metadata = build_preset(args.name, args.data_dir, args.work_dir, args.output_dir,
                            args.overwrite)
    print(json.dumps(metadata, indent=1))
    return 0


def run() -> None:
    """Console-script entry point."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketch_common.errors import run_tool

    run_tool(main)
