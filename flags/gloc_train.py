"""`python train.py` (console script `sketchgloc-train`): train SketchGloc.

    python train.py --log_root=DIR --data_dir=DIR [--resume_training] [--overwrite]
        [--hparams="categories=[bee,bus],re_scale=0.3"] [--batch_size=16 / any hparam flag]
        [--save_state_steps=500] [--strategy=default|mirrored|multi_worker] [--logical_cpus=N]

The command line of the original `train.py` works unchanged (`--data_dir`, `--log_root`,
`--resume_training`, `--hparams`); every hparam is also a flag of its own (`--re_scale=0.3`).
Precedence: defaults < stored config (on resume) < --hparams < individual flags. Without
--data_dir, a synthetic demo dataset is generated and a small model trains for a few hundred
steps. Writes LOG_ROOT/model_config.json (all hparams, with the sizes computed from the data),
the best model (model.weights.h5: LOG_ROOT is a CHECKPOINT_DIR), para.npz, the resumable state
(state/), reconstructions/epoch_<e>.png and TensorBoard logs.

A --log_root that holds a run (state/, model.weights.h5 or para.npz) is never overwritten
silently: continue it with --resume_training or replace it with --overwrite. Bad hparams, data
or saved state end with a one-line `error: ...` and exit status 1 (2 for a flag that does not
parse).
"""

import os
import sys

from absl import flags

from flags import common as common_flags
from flags import sketchgloc as gloc_flags

FLAG_VALUES = flags.FlagValues()
UPSTREAM_LOG_ROOT = "./ckpt_ds3_999_stnum"
DEMO_LOG_ROOT = "./demo_run"
DEMO_HPARAMS = dict(
    categories=["circle", "face", "house", "star"], enc_rnn_size=64, dec_rnn_size=128, z_size=32,
    batch_size=20, num_steps=300, re_scale=0.1,
)

gloc_flags.define_train_flags(FLAG_VALUES)


def resolve_run(overrides: dict, flag_values=FLAG_VALUES) -> tuple:
    """`(data_dir, log_root, hparams)` from the flags, the demo defaults and a stored config.

    The hparams are checked before anything is written; the demo data are generated in
    `log_root/demo_data` when missing.

    Raises:
        SketchConfigError: bad hparams, a bad stored config or an unusable `log_root`.
    """
    from sketchgloc_tf2 import hparams as hparams_lib
    from sketchgloc_tf2.checkpoint import CONFIG_NAME
    from sketchgloc_tf2.data import synthetic
    from sketchgloc_tf2.run_state import ensure_log_root

    demo = flag_values.data_dir is None
    log_root = flag_values.log_root or (DEMO_LOG_ROOT if demo else UPSTREAM_LOG_ROOT)
    base = hparams_lib.HParams(**DEMO_HPARAMS) if demo else hparams_lib.HParams()
    stored = os.path.join(log_root, CONFIG_NAME)
    if flag_values.resume_training and os.path.isfile(stored):
        base = hparams_lib.load_config(stored)
    hparams = base.replace(**overrides)
    ensure_log_root(log_root)
    data_dir = flag_values.data_dir
    if demo:
        data_dir = os.path.join(log_root, "demo_data")
        if not os.path.isdir(data_dir):
            synthetic.write_dataset(data_dir)
        print(f"No --data_dir: training a small demo model on synthetic sketches in {data_dir}",
              file=sys.stderr)
    return data_dir, log_root, hparams


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv`, program name first), trains; returns the exit status.

    Raises:
        SketchError: bad hparams, data, log_root or saved state (one line each).
    """
    argv = list(sys.argv if argv is None else argv)
    parsed, status = common_flags.parse_flags_or_status(argv, FLAG_VALUES, __doc__)
    if parsed is None:
        return status
    rest = parsed
    if len(rest) > 1:
        print(f"error: unexpected arguments: {' '.join(rest[1:])} (see --help)",
              file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import matplotlib

    matplotlib.use("Agg")  # the reconstruction pictures are drawn headless
    from sketchgloc_tf2 import training
    from sketchgloc_tf2.errors import SketchError
    from sketchgloc_tf2.pictures import TrainingReconstructions

    common_flags.apply_runtime_flags(FLAG_VALUES)
    strategy = common_flags.strategy_from_flags(FLAG_VALUES)
    data_dir, log_root, hparams = resolve_run(gloc_flags.hparam_overrides(FLAG_VALUES))
    trainer = training.start_run(data_dir, log_root, hparams, FLAG_VALUES.resume_training,
                                 FLAG_VALUES.save_state_steps, strategy=strategy,
                                 on_best=[TrainingReconstructions()],
                                 overwrite=FLAG_VALUES.overwrite)
    try:
        progress = trainer.run()
    except KeyboardInterrupt:
        raise SketchError("interrupted; continue the run with --resume_training") from None
    print(f"Done: {progress.count} steps, {progress.epoch} epochs, best validation loss "
          f"{progress.best_valid_loss:.4f} (epoch {progress.best_epoch}).")
    print(f"Outputs in {os.path.abspath(log_root)}: model_config.json + model.weights.h5 "
          f"(CHECKPOINT_DIR for sample_abs.py / retrieval.py), TensorBoard logs, "
          f"reconstructions/, state/ (for --resume_training).")
    return 0


def run() -> None:
    """Console-script entry point (and `python train.py`)."""
    from sketch_common.errors import run_tool

    run_tool(main)
