"""Train SketchGloc: `python train.py --log_root=DIR --data_dir=DIR --hparams="categories=[bee,bus]"`.

The command line of the original `train.py` works unchanged (`--data_dir`, `--log_root`,
`--resume_training`, `--hparams`); every hparam is also a flag of its own (`--re_scale=0.3`).
Without `--data_dir`, a synthetic demo dataset is generated and a small model trains for a few
hundred steps, so the whole pipeline can be seen working in a couple of minutes.
`--strategy=mirrored|multi_worker` (and `--logical_cpus=N` to split the CPU into N devices)
trains with `tf.distribute`; see `sketch_common.distribute`.

A --log_root that holds a run (state/, model.weights.h5 or para.npz) is never overwritten
silently: continue it with --resume_training or replace it with --overwrite. Bad hparams, data
or saved state end with a one-line `error: ...` and exit status 1.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from flags import common as common_flags  # noqa: E402
from flags import sketchgloc as gloc_flags  # noqa: E402
from sketchgloc_tf2 import hparams as hparams_lib  # noqa: E402
from sketchgloc_tf2 import training  # noqa: E402
from sketchgloc_tf2.data import synthetic  # noqa: E402
from sketchgloc_tf2.errors import SketchError  # noqa: E402

FLAGS = flags.FLAGS
UPSTREAM_LOG_ROOT = "./ckpt_ds3_999_stnum"
DEMO_LOG_ROOT = "./demo_run"
DEMO_HPARAMS = dict(
    categories=list(synthetic.CATEGORIES), enc_rnn_size=64, dec_rnn_size=128, z_size=32,
    batch_size=20, num_steps=300, re_scale=0.1,
)

gloc_flags.define_train_flags()
# The flags are defined in flags/; make them this script's own so that --help lists them.
flags.adopt_module_key_flags(gloc_flags)
flags.adopt_module_key_flags(common_flags)
SHORT_HELP_ARGUMENTS = ("--help", "-help", "-h", "-?", "--helpshort")
FULL_HELP_ARGUMENTS = ("--helpfull", "-helpfull")


def parse_flags(argv) -> list:
    """absl's flag parsing, except that help exits 0 (absl exits 1 after printing it).

    `--help` (`-h`, `-?`, `--helpshort`) lists the flags of train.py, `--helpfull` every flag
    of the process.
    """
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in SHORT_HELP_ARGUMENTS + FULL_HELP_ARGUMENTS:
            app.usage(shorthelp=arg in SHORT_HELP_ARGUMENTS, writeto_stdout=True, exitcode=0)
    return app.parse_flags_with_usage(argv)


def resolve_run(overrides: dict) -> tuple:
    """`(data_dir, log_root, hparams)` from the flags, the demo defaults and a stored config.

    The hparams are checked before anything is written; the demo data are generated in
    `log_root/demo_data` when missing.

    Raises:
        SketchConfigError: bad hparams, a bad stored config or an unusable `log_root`.
    """
    demo = FLAGS.data_dir is None
    log_root = FLAGS.log_root or (DEMO_LOG_ROOT if demo else UPSTREAM_LOG_ROOT)
    base = hparams_lib.HParams(**DEMO_HPARAMS) if demo else hparams_lib.HParams()
    stored = os.path.join(log_root, "model_config.json")
    if FLAGS.resume_training and os.path.isfile(stored):
        base = hparams_lib.load_config(stored)
    hparams = base.replace(**overrides)
    training.ensure_log_root(log_root)
    data_dir = FLAGS.data_dir
    if demo:
        data_dir = os.path.join(log_root, "demo_data")
        if not os.path.isdir(data_dir):
            synthetic.write_dataset(data_dir)
        logging.info("No --data_dir: training a small demo model on synthetic sketches in %s",
                     data_dir)
    return data_dir, log_root, hparams


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        common_flags.apply_runtime_flags()
        strategy = common_flags.strategy_from_flags()
        data_dir, log_root, hparams = resolve_run(gloc_flags.hparam_overrides())
        trainer = training.start_run(data_dir, log_root, hparams, FLAGS.resume_training,
                                     FLAGS.save_state_steps, strategy=strategy,
                                     overwrite=FLAGS.overwrite)
        progress = trainer.run()
    except (SketchError, OSError) as error:
        logging.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; continue the run with --resume_training", file=sys.stderr)
        return 130
    print(f"Done: {progress.count} steps, {progress.epoch} epochs, best validation loss "
          f"{progress.best_valid_loss:.4f} (epoch {progress.best_epoch}).")
    print(f"Outputs in {os.path.abspath(log_root)}: model_config.json + model.weights.h5 "
          f"(CHECKPOINT_DIR for sample_abs.py / retrieval.py), TensorBoard logs, "
          f"reconstructions/, state/ (for --resume_training).")
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
