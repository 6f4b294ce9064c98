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
        define_flag_for_default(name, default, f"hparam {name} (default {default!r}{limits}).",
                                flag_values=flag_values)


def hparam_overrides(flag_values=FLAGS) -> dict:
    """Hparams given on the command line: `--hparams` first, then individual flags."""
    overrides = hparams_lib.parse_hparams(flag_values.hparams)
    defaults = hparams_lib.HParams().values()
    for name, value in explicit_values(list(defaults), flag_values).items():
        overrides[name] = hparams_lib.coerce_value(name, value, defaults[name])
    return overrides
