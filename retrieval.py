"""The Ret metric of a `sample_abs.py` folder (upstream `retrieval.py`).

    python retrieval.py SAMPLE_DIR CHECKPOINT_DIR [--data_dir=DIR] [--retrieval_offbyone]

prints `Top 1 Ret: x`, `Top 10 Ret: x`, `Top 50 Ret: x` (the only stdout lines; progress and
logs go to stderr). `--data_dir` (optional) recomputes the padded sizes from the checkpoint's
categories as upstream does; without it the sizes stored in `model_config.json` are used (they
only bound the re-encoded sketches). See
`sketchgloc_tf2.retrieval` for the metric and the documented differences from upstream.

A missing or incomplete SAMPLE_DIR, an unreadable `code_*.npy` / `s_*.npy` file and an unreadable
checkpoint end with one `error: ...` line on stderr and exit status 1 (2 for a flag that does not
parse); the sample folder is checked before the checkpoint is loaded.
"""

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from sketchgloc_tf2.data.pipeline import prepare_data  # noqa: E402
from sketchgloc_tf2.errors import SketchConfigError, SketchError  # noqa: E402
from sketchgloc_tf2.retrieval import evaluate_sample_folder  # noqa: E402
from sketchgloc_tf2.sampling import list_sample_files, load_sampling_model  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "Upstream's name for SAMPLE_DIR (positional 1).")
flags.DEFINE_string("model_dir", None, "Upstream's name for CHECKPOINT_DIR (positional 2).")
flags.DEFINE_integer("ckpt_id", 0, "0: CHECKPOINT_DIR itself; else CHECKPOINT_DIR/vector-<id>.")
flags.DEFINE_string("data_dir", None, "Folder of the <category>.npz files (optional).")
flags.DEFINE_boolean("retrieval_offbyone", False,
                     "Reproduce upstream's off-by-one offset conversion of generated sketches "
                     "(docs/differences.md#sg-b7): each is translated by minus its last movement.")
flags.DEFINE_integer("batch_size", 100, "Sketches per encoder call.")


def parse_arguments(argv):
    """absl flag parsing; a flag error is one `error: ...` line and exit status 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print(f"error: {' '.join(str(error).split())} (see --helpshort)", file=sys.stderr)
        sys.exit(2)


def main(argv):
    positional = argv[1:]
    sample_dir = positional[0] if positional else FLAGS.output_dir
    checkpoint_dir = positional[1] if len(positional) > 1 else FLAGS.model_dir
    try:
        if len(positional) > 2 or not sample_dir or not checkpoint_dir:
            raise SketchConfigError(
                "usage: python retrieval.py SAMPLE_DIR CHECKPOINT_DIR [--data_dir=DIR]")
        if FLAGS.batch_size < 1:
            raise SketchConfigError(f"--batch_size must be >= 1, got {FLAGS.batch_size}")
        list_sample_files(sample_dir)
        model, hparams = load_sampling_model(checkpoint_dir, FLAGS.ckpt_id)
        if FLAGS.data_dir:
            hparams = prepare_data(FLAGS.data_dir, hparams, keep_sizes=True).hparams
        with contextlib.redirect_stdout(sys.stderr):  # progress bar off stdout
            result = evaluate_sample_folder(model, hparams, sample_dir,
                                            FLAGS.retrieval_offbyone, FLAGS.batch_size)
    except SketchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for k, value in result.top_k.items():
        print(f"Top {k} Ret: {value}")
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_arguments)
