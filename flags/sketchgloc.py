"""The flags of `train.py`: upstream's four flags plus one flag per SketchGloc hparam.

Upstream's command line keeps working (`--data_dir`, `--log_root`, `--resume_training`,
`--hparams="categories=[bee,bus],re_scale=0.3"`); every hparam can also be given as its own flag
(`--batch_size=16`, `--categories=bee,bus`). Precedence: defaults < stored config (on resume) <
`--hparams` < individual flags.
"""

from absl import flags

from flags.common import (define_distribution_flags, define_flag_for_default,
                          explicit_values)
from sketchgloc_tf2 import hparams as hparams_lib

FLAGS = flags.FLAGS
UNUSED = "accepted for upstream command lines and configs; has no effect in training"
# What each hparam means (the flag help); defaults and allowed ranges are appended.
HPARAM_HELP = {
    "categories": "categories to train on: <category>.npz files of --data_dir, in class order",
    "num_steps": "upper bound on training steps (upstream ignores it; the port stops there)",
    "re_scale": "strength of the reorganisation noise on the encoder input (the re_scale task; "
                "0: none)",
    "save_every": "validate (and save on improvement) every this many epochs",
    "dec_rnn_size": "decoder cell units",
    "enc_model": "node encoder cell type",
    "enc_rnn_size": "node encoder cell units (per direction)",
    "dec_model": "decoder cell type",
    "max_seq_len": "T, longest sketch in points; computed from the data (-1: not yet computed)",
    "max_stroke_len": "L, longest graph node in points; computed from the data",
    "max_strokes_num": "N, most graph nodes of a sketch; computed from the data",
    "z_size": "latent code size",
    "batch_size": "sketches per training step",
    "num_mixture": "upstream key, accepted and IGNORED: the decoder's Gaussian mixture always "
                   "has num_mixture_components components (docs/differences.md#sg-b5)",
    "learning_rate": "initial Adam learning rate",
    "decay_rate": "per-step learning-rate decay base (constant rate unless lr_decay, as "
                  "upstream: docs/differences.md#sg-b4)",
    "min_learning_rate": "learning-rate floor",
    "grad_clip": "each variable's gradient is clipped to this L2 norm",
    "de_weight": UNUSED,
    "use_recurrent_dropout": "recurrent dropout (without memory loss) in the cells",
    "recurrent_dropout_prob": "KEEP probability of recurrent dropout (1 - dropout rate; 1.0 "
                              "keeps everything), used when use_recurrent_dropout",
    "use_input_dropout": "dropout on the decoder inputs",
    "input_dropout_prob": "KEEP probability of input dropout (1 - dropout rate), used when "
                          "use_input_dropout",
    "use_output_dropout": "dropout on the decoder outputs",
    "output_dropout_prob": "KEEP probability of output dropout (1 - dropout rate), used when "
                           "use_output_dropout",
    "random_scale_factor": "training augmentation: random x/y stretch strength",
    "augment_stroke_prob": "training augmentation: probability of dropping a point",
    "png_scale_ratio": UNUSED,
    "png_rotate_angle": UNUSED,
    "png_translate_dist": UNUSED,
    "is_training": "upstream training-mode switch (the tools set it themselves)",
    "png_width": UNUSED,
    "num_sub": UNUSED,
    "num_per_category": "sketches per category taken from each split's file at most",
    "normalizing_scale_factor": "original units per model unit; computed from the training "
                                "data (-1: not yet computed)",
    "num_mixture_components": "Gaussian mixture components of the decoder output (upstream "
                              "hard-codes 20; the port's name)",
    "clip_node_length": "clamp node lengths to L (the port's fix of docs/differences.md#sg-b1)",
    "lr_decay": "advance the learning-rate decay with the step (upstream never does)",
    "seed": "seed of weights, shuffling, augmentation and dropout",
}


def define_train_flags(flag_values=FLAGS) -> None:
    """Defines the flags of `train.py` (once per process)."""
    flags.DEFINE_string("data_dir", None,
                        "Folder of the <category>.npz files. Unset: the synthetic demo dataset "
                        "is generated and a short demo run is made.", flag_values=flag_values)
    flags.DEFINE_string("log_root", None,
                        "Where checkpoints, model_config.json and TensorBoard logs go "
                        "(upstream default ./ckpt_ds3_999_stnum; demo default ./demo_run).",
                        flag_values=flag_values)
    flags.DEFINE_boolean("resume_training", False,
                         "Continue the run in --log_root from its last saved training state.",
                         flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", False,
                         "Start a new run in a --log_root that holds another run's state/, "
                         "model.weights.h5 or para.npz, deleting them (and reconstructions/; "
                         "TensorBoard event files stay). Without it train.py refuses such a "
                         "--log_root. Not with --resume_training.", flag_values=flag_values)
    flags.DEFINE_integer("save_state_steps", 500,
                         "Also save the resumable training state every this many steps "
                         "(0: only at epoch ends).", flag_values=flag_values)
    define_distribution_flags(flag_values)
    define_hparam_flags(flag_values)


def define_hparam_flags(flag_values=FLAGS) -> None:
    """Defines `--hparams` and one flag per hparam (read back by `hparam_overrides`)."""
    flags.DEFINE_string("hparams", "",
                        "Comma-separated name=value pairs, lists in brackets: "
                        "'categories=[bee,bus],re_scale=0.3'.", flag_values=flag_values)
    for name, default in hparams_lib.HParams().values().items():
        allowed = hparams_lib.HPARAM_RANGES.get(name)
        limits = f"; allowed: {allowed.describe(name)}" if allowed else ""
        meaning = HPARAM_HELP.get(name, f"hparam {name}")
        define_flag_for_default(name, default, f"{meaning} (hparam; default {default!r}{limits}).",
                                flag_values=flag_values)


def hparam_overrides(flag_values=FLAGS) -> dict:
    """Hparams given on the command line: `--hparams` first, then individual flags."""
    overrides = hparams_lib.parse_hparams(flag_values.hparams)
    defaults = hparams_lib.HParams().values()
    for name, value in explicit_values(list(defaults), flag_values).items():
        overrides[name] = hparams_lib.coerce_value(name, value, defaults[name])
    return overrides
