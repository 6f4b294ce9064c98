"""`python retrieval.py` (console script `sketchgloc-retrieval`): the Ret metric of a
`sample_abs.py` folder (upstream `retrieval.py`).

    python retrieval.py SAMPLE_DIR CHECKPOINT_DIR [--data_dir=DIR] [--retrieval_offbyone]

prints `Top 1 Ret: x`, `Top 10 Ret: x`, `Top 50 Ret: x` (the only stdout lines; progress and
logs go to stderr). `--data_dir` (optional) recomputes the padded sizes from the checkpoint's
categories as upstream does; without it the sizes stored in `model_config.json` are used (they
only bound the re-encoded sketches). CHECKPOINT_DIR is a native checkpoint directory or an
original TF1 checkpoint. See `sketchgloc_tf2.retrieval` for the metric and the documented
differences from upstream.

A missing or incomplete SAMPLE_DIR, an unreadable `code_*.npy` / `s_*.npy` file and an unreadable
checkpoint end with one `error: ...` line on stderr and exit status 1 (2 for a flag that does not
parse); the sample folder is checked before the checkpoint is loaded.
"""

import contextlib
import os
import sys

from absl import flags

from flags import common as common_flags

FLAG_VALUES = flags.FlagValues()
flags.DEFINE_string("output_dir", None, "Upstream's name for SAMPLE_DIR (positional 1).",
                    flag_values=FLAG_VALUES)
flags.DEFINE_string("model_dir", None, "Upstream's name for CHECKPOINT_DIR (positional 2).",
                    flag_values=FLAG_VALUES)
flags.DEFINE_integer("ckpt_id", 0, "0: CHECKPOINT_DIR itself; else CHECKPOINT_DIR/vector-<id>.",
                     flag_values=FLAG_VALUES)
flags.DEFINE_string("data_dir", None,
                    "Folder of the <category>.npz files (optional: recomputes the padded sizes).",
                    flag_values=FLAG_VALUES)
flags.DEFINE_boolean("retrieval_offbyone", False,
                     "Reproduce upstream's off-by-one offset conversion of generated sketches "
                     "(docs/differences.md#sg-b7): each is translated by minus its last "
                     "movement.", flag_values=FLAG_VALUES)
flags.DEFINE_integer("batch_size", 100, "Sketches per encoder call, >= 1.",
                     flag_values=FLAG_VALUES)


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv`, program name first), prints Top-k Ret; returns the
    exit status.

    Raises:
        SketchError: bad arguments, sample folder or checkpoint (one line each).
    """
    argv = list(sys.argv if argv is None else argv)
    parsed, status = common_flags.parse_flags_or_status(argv, FLAG_VALUES, __doc__)
    if parsed is None:
        return status
    positional = parsed[1:]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sketchgloc_tf2.errors import SketchConfigError
    from sketchgloc_tf2.sample_folder import list_sample_files

    sample_dir = positional[0] if positional else FLAG_VALUES.output_dir
    checkpoint_dir = positional[1] if len(positional) > 1 else FLAG_VALUES.model_dir
    if len(positional) > 2 or not sample_dir or not checkpoint_dir:
        raise SketchConfigError(
            "usage: python retrieval.py SAMPLE_DIR CHECKPOINT_DIR [--data_dir=DIR]")
    if FLAG_VALUES.batch_size < 1:
        raise SketchConfigError(f"--batch_size must be >= 1, got {FLAG_VALUES.batch_size}")
    list_sample_files(sample_dir)
    from sketchgloc_tf2.convert import load_sampling_model
    from sketchgloc_tf2.data.pipeline import prepare_data
    from sketchgloc_tf2.retrieval import evaluate_sample_folder

    model, hparams = load_sampling_model(checkpoint_dir, FLAG_VALUES.ckpt_id)
    if FLAG_VALUES.data_dir:
        hparams = prepare_data(FLAG_VALUES.data_dir, hparams, keep_sizes=True).hparams
    with contextlib.redirect_stdout(sys.stderr):  # progress bar off stdout
        result = evaluate_sample_folder(model, hparams, sample_dir,
                                        FLAG_VALUES.retrieval_offbyone, FLAG_VALUES.batch_size)
    for k, value in result.top_k.items():
        print(f"Top {k} Ret: {value}")
    return 0


def run() -> None:
    """Console-script entry point (and `python retrieval.py`)."""
    from sketch_common.errors import run_tool

    run_tool(main)
