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

from flags import preset_build


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv[1:]`), builds the preset; returns the exit status."""
    return preset_build.main(argv, "python -m bert_tf2.preset_builder",
                             __doc__.split("\n\n", 2)[2], "bert_tf2.preset_builder")


def run() -> None:
    """Console-script entry point."""
    preset_build.run(main)
