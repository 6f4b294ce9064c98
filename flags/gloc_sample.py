"""`python sample_abs.py` (console script `sketchgloc-sample`): generate sketches from test
sketches (upstream `sample_abs.py`).

    python sample_abs.py SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] \
        [--data_dir=DIR] [--greedy] [--temperature=0.24] [--seed=0] [--color_by_category]

or with named flags only: `--sample_size --dataset_id --output_dir --re_scale --checkpoint_dir
--ckpt_id`. DATASET_ID 1, 2, 3 select upstream's category lists; 0 uses the categories of the
checkpoint's `model_config.json`. CHECKPOINT_DIR is a native checkpoint directory or an original
TF1 checkpoint; CKPT_ID 0 (default) loads CHECKPOINT_DIR itself, another value loads
`CHECKPOINT_DIR/vector-<CKPT_ID>`. The output layout is upstream's (see
`sketchgloc_tf2.sample_folder.generate_sample_folder`): per category c and sketch i,
`OUTPUT_DIR/<category>/c_i.png`, `OUTPUT_DIR/c_i.png` (and `.svg`), `code_c_i.npy`, `s_c_i.npy`.

Bad arguments (SAMPLE_SIZE < 1 or not an integer, a negative RE_SCALE or CKPT_ID, an unknown
DATASET_ID, an OUTPUT_DIR that is a file, a bad flag value) are reported before the checkpoint is
loaded; they, and an unreadable checkpoint or data folder, end with one `error: ...` line on
stderr and exit status 1 (2 for a flag that does not parse). A negative number is read as a
positional argument (and rejected with the argument's name), not as an unknown flag.
"""

import math
import os
import re
import sys

from absl import flags

from flags import common as common_flags

FLAG_VALUES = flags.FlagValues()
DEFAULT_TEMPERATURE = 0.24  # sketchgloc_tf2.sampling.DEFAULT_TEMPERATURE (no TF import here)
POSITIONAL = ("sample_size", "dataset_id", "output_dir", "re_scale", "checkpoint_dir", "ckpt_id")
USAGE_NAMES = {"sample_size": "SAMPLE_SIZE", "dataset_id": "DATASET_ID", "output_dir": "OUTPUT_DIR",
               "re_scale": "RE_SCALE", "checkpoint_dir": "CHECKPOINT_DIR", "ckpt_id": "CKPT_ID"}
NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
NUMBER_MARK = "\0number:"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the flags of `sample_abs.py` in `flag_values`."""
    flags.DEFINE_integer("sample_size", None, "Test sketches per category, >= 1 (positional 1).",
                         flag_values=flag_values)
    flags.DEFINE_integer("dataset_id", None,
                         "1, 2, 3: upstream category lists; 0: the checkpoint's categories "
                         "(positional 2).", flag_values=flag_values)
    flags.DEFINE_string("output_dir", None, "Output folder, created if needed (positional 3).",
                        flag_values=flag_values)
    flags.DEFINE_float("re_scale", None,
                       "Reorganisation noise strength applied before encoding, >= 0 "
                       "(positional 4; default 0).", flag_values=flag_values)
    flags.DEFINE_string("checkpoint_dir", None,
                        "Native checkpoint directory, or TF1 checkpoint prefix or folder "
                        "(positional 5).", flag_values=flag_values)
    flags.DEFINE_integer("ckpt_id", 0, "0: CHECKPOINT_DIR itself; else CHECKPOINT_DIR/vector-<id> "
                         "(positional 6).", flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "Upstream's name for --checkpoint_dir.",
                        flag_values=flag_values)
    flags.DEFINE_integer("num_per_category", None, "Upstream's name for --sample_size.",
                         flag_values=flag_values)
    flags.DEFINE_string("data_dir", "./", "Folder of the <category>.npz files.",
                        flag_values=flag_values)
    flags.DEFINE_list("categories", None, "Explicit category list (overrides DATASET_ID).",
                      flag_values=flag_values)
    flags.DEFINE_boolean("greedy", False, "Argmax decoding (upstream root variant's default, "
                         "docs/differences.md#sg-b23).", flag_values=flag_values)
    flags.DEFINE_float("temperature", DEFAULT_TEMPERATURE,
                       "Sampling temperature tau, >= 0 (ignored with --greedy).",
                       flag_values=flag_values)
    flags.DEFINE_integer("seed", 0, "Seed of the reorganisation noise and of the sampler.",
                         flag_values=flag_values)
    flags.DEFINE_boolean("conditional", True,
                         "Generate from test sketches; False: z ~ N(0, I).",
                         flag_values=flag_values)
    flags.DEFINE_boolean("color_by_category", False,
                         "Colour strokes by category as upstream (leaks the label into Rec, "
                         "docs/differences.md#sg-b10); default black.", flag_values=flag_values)
    flags.DEFINE_boolean("z_ori_clean_strokes", False,
                         "code_*.npy from the clean chunks (upstream: reorganised chunks with "
                         "the clean graph, docs/differences.md#sg-b6).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 100, "Sketches per compiled sampler / encoder call, >= 1.",
                         flag_values=flag_values)
    flags.DEFINE_boolean("write_svg", True, "Also write upstream's root c_i.svg files.",
                         flag_values=flag_values)


define_flags(FLAG_VALUES)


def _is_flag_expecting_value(arg: str, flag_values) -> bool:
    """True for `--name` / `-name` (no `=`) of a defined non-boolean flag."""
    if not arg.startswith("-") or "=" in arg:
        return False
    name = arg.lstrip("-")
    return name in flag_values and not flag_values[name].boolean


def parse_arguments(argv, flag_values=FLAG_VALUES):
    """absl flag parsing in which a negative number (`-3`) is a positional argument.

    Args:
        argv: the command line, program name first.

    Returns:
        The program name and the positional arguments, in order.

    Raises:
        absl.flags.Error: a flag that does not parse.
    """
    protected = list(argv[:1])
    for previous, arg in zip(argv, argv[1:]):
        negative = NEGATIVE_NUMBER.fullmatch(arg) and not _is_flag_expecting_value(previous,
                                                                                   flag_values)
        protected.append(NUMBER_MARK + arg if negative else arg)
    rest = flag_values(protected)
    return [arg[len(NUMBER_MARK):] if arg.startswith(NUMBER_MARK) else arg for arg in rest]


def _convert(name, raw):
    """A positional argument's value, typed."""
    from sketchgloc_tf2.errors import SketchConfigError

    label = f"{USAGE_NAMES[name]} (positional {POSITIONAL.index(name) + 1})"
    if name in ("sample_size", "dataset_id", "ckpt_id"):
        try:
            return int(raw)
        except ValueError:
            raise SketchConfigError(f"{label}: expected an integer, got {raw!r}") from None
    if name == "re_scale":
        try:
            return float(raw)
        except ValueError:
            raise SketchConfigError(f"{label}: expected a number, got {raw!r}") from None
    return raw


def _check_settings(values, flag_values):
    """Range checks of the arguments, before anything is loaded."""
    from sketchgloc_tf2 import hparams as hparams_lib
    from sketchgloc_tf2.errors import SketchConfigError
    from sketchgloc_tf2.sample_folder import check_output_folder

    if values["sample_size"] < 1:
        raise SketchConfigError(f"SAMPLE_SIZE (--sample_size): must be an integer >= 1 (test "
                                f"sketches per category), got {values['sample_size']}")
    if not (math.isfinite(values["re_scale"]) and values["re_scale"] >= 0):
        raise SketchConfigError(f"RE_SCALE (--re_scale): must be a number >= 0, got "
                                f"{values['re_scale']}")
    if values["ckpt_id"] < 0:
        raise SketchConfigError(f"CKPT_ID (--ckpt_id): must be >= 0 (0: CHECKPOINT_DIR itself), "
                                f"got {values['ckpt_id']}")
    if not flag_values.categories and values["dataset_id"] not in (0, *hparams_lib.DATASETS):
        raise SketchConfigError(
            f"DATASET_ID (--dataset_id) {values['dataset_id']}: use 1, 2, 3 (upstream lists) or "
            "0 (the checkpoint's categories)")
    if flag_values.batch_size < 1:
        raise SketchConfigError(f"--batch_size must be >= 1, got {flag_values.batch_size}")
    if not (math.isfinite(flag_values.temperature) and flag_values.temperature >= 0):
        raise SketchConfigError(
            f"--temperature must be a number >= 0, got {flag_values.temperature}")
    check_output_folder(values["output_dir"])


def settings(positional, flag_values=FLAG_VALUES) -> dict:
    """The six upstream arguments: positional ones (upstream) override the named flags.

    Raises:
        SketchConfigError: a missing, extra, malformed or out-of-range argument.
    """
    from sketchgloc_tf2.errors import SketchConfigError

    if len(positional) > len(POSITIONAL):
        raise SketchConfigError(
            f"too many positional arguments {positional}; expected SAMPLE_SIZE DATASET_ID "
            "OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID]")
    values = {
        "sample_size": flag_values.sample_size if flag_values.sample_size is not None
        else flag_values.num_per_category,
        "dataset_id": flag_values.dataset_id,
        "output_dir": flag_values.output_dir,
        "re_scale": flag_values.re_scale if flag_values.re_scale is not None else 0.0,
        "checkpoint_dir": flag_values.checkpoint_dir or flag_values.model_dir,
        "ckpt_id": flag_values.ckpt_id,
    }
    for name, raw in zip(POSITIONAL, positional):
        values[name] = _convert(name, raw)
    missing = [name for name in POSITIONAL[:5] if values[name] is None]
    if missing == ["dataset_id"] and flag_values.categories:
        missing = []
    if missing:
        raise SketchConfigError(
            f"missing {', '.join(USAGE_NAMES[name] for name in missing)}: python sample_abs.py "
            "SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] (or the named "
            "flags)")
    _check_settings(values, flag_values)
    return values


def main(argv=None) -> int:
    """Parses `argv` (default `sys.argv`, program name first), writes the sample folder; returns
    the exit status.

    Raises:
        SketchError: bad arguments (before the checkpoint is loaded), checkpoint or data.
    """
    argv = list(sys.argv if argv is None else argv)
    parsed, status = common_flags.parse_flags_or_status(argv, FLAG_VALUES, __doc__, parse_arguments)
    if parsed is None:
        return status
    positional = parsed[1:]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    values = settings(positional)
    from absl import logging

    from sketchgloc_tf2 import hparams as hparams_lib
    from sketchgloc_tf2.convert import load_sampling_model
    from sketchgloc_tf2.data.pipeline import prepare_data
    from sketchgloc_tf2.sample_folder import SampleFolderOptions, generate_sample_folder

    model, hparams = load_sampling_model(values["checkpoint_dir"], values["ckpt_id"])
    if FLAG_VALUES.categories:
        categories = list(FLAG_VALUES.categories)
    elif values["dataset_id"] == 0:
        categories = list(hparams.categories)
    else:
        categories = list(hparams_lib.DATASETS[values["dataset_id"]])
    logging.info("categories: %s", categories)
    data = prepare_data(FLAG_VALUES.data_dir, hparams.replace(categories=categories),
                        keep_sizes=True)
    options = SampleFolderOptions(
        sample_size=values["sample_size"], re_scale=values["re_scale"],
        temperature=FLAG_VALUES.temperature, greedy=FLAG_VALUES.greedy, seed=FLAG_VALUES.seed,
        conditional=FLAG_VALUES.conditional, z_ori_clean_strokes=FLAG_VALUES.z_ori_clean_strokes,
        color_by_category=FLAG_VALUES.color_by_category, batch_size=FLAG_VALUES.batch_size,
        write_svg=FLAG_VALUES.write_svg)
    written = generate_sample_folder(model, data.hparams, data.test, values["output_dir"],
                                     options)
    for name, count in written.items():
        print(f"{name}: {count} sketches in {os.path.join(values['output_dir'], name)}")
    return 0


def run() -> None:
    """Console-script entry point (and `python sample_abs.py`)."""
    from sketch_common.errors import run_tool

    run_tool(main)
