"""Generate sketches from test sketches (upstream `sample_abs.py`).

    python sample_abs.py SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] \
        [--data_dir=DIR] [--greedy] [--temperature=0.24] [--seed=0] [--color_by_category]

or with named flags only: `--sample_size --dataset_id --output_dir --re_scale --checkpoint_dir
--ckpt_id`. DATASET_ID 1, 2, 3 select upstream's category lists; 0 uses the categories of the
checkpoint's `model_config.json`. CKPT_ID 0 (default) loads CHECKPOINT_DIR itself; another value
loads `CHECKPOINT_DIR/vector-<CKPT_ID>`. The output layout is upstream's (see
`sketchgloc_tf2.sampling.generate_sample_folder`).

Bad arguments (SAMPLE_SIZE < 1 or not an integer, a negative RE_SCALE or CKPT_ID, an unknown
DATASET_ID, an OUTPUT_DIR that is a file, a bad flag value) are reported before the checkpoint is
loaded; they, and an unreadable checkpoint or data folder, end with one `error: ...` line on stderr
and exit status 1 (2 for a flag that does not parse). A negative number is read as a positional
argument (and rejected with the argument's name), not as an unknown flag.
"""

import math
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from sketchgloc_tf2 import hparams as hparams_lib  # noqa: E402
from sketchgloc_tf2.data.pipeline import prepare_data  # noqa: E402
from sketchgloc_tf2.errors import SketchConfigError, SketchError  # noqa: E402
from sketchgloc_tf2.sampling import (  # noqa: E402
    DEFAULT_TEMPERATURE,
    SampleFolderOptions,
    check_output_folder,
    generate_sample_folder,
    load_sampling_model,
)

FLAGS = flags.FLAGS
POSITIONAL = ("sample_size", "dataset_id", "output_dir", "re_scale", "checkpoint_dir", "ckpt_id")
USAGE_NAMES = {"sample_size": "SAMPLE_SIZE", "dataset_id": "DATASET_ID", "output_dir": "OUTPUT_DIR",
               "re_scale": "RE_SCALE", "checkpoint_dir": "CHECKPOINT_DIR", "ckpt_id": "CKPT_ID"}
NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
NUMBER_MARK = "\0number:"

flags.DEFINE_integer("sample_size", None, "Test sketches per category (positional 1).")
flags.DEFINE_integer("dataset_id", None,
                     "1, 2, 3: upstream category lists; 0: the checkpoint's categories "
                     "(positional 2).")
flags.DEFINE_string("output_dir", None, "Output folder (positional 3).")
flags.DEFINE_float("re_scale", None, "Reorganisation noise strength (positional 4).")
flags.DEFINE_string("checkpoint_dir", None,
                    "Native checkpoint dir or TF1 checkpoint folder (positional 5).")
flags.DEFINE_integer("ckpt_id", 0, "0: CHECKPOINT_DIR itself; else CHECKPOINT_DIR/vector-<id> "
                     "(positional 6).")
flags.DEFINE_string("model_dir", None, "Upstream's name for --checkpoint_dir.")
flags.DEFINE_integer("num_per_category", None, "Upstream's name for --sample_size.")
flags.DEFINE_string("data_dir", "./", "Folder of the <category>.npz files.")
flags.DEFINE_list("categories", None, "Explicit category list (overrides DATASET_ID).")
flags.DEFINE_boolean("greedy", False, "Argmax decoding (upstream root variant's default).")
flags.DEFINE_float("temperature", DEFAULT_TEMPERATURE, "Sampling temperature.")
flags.DEFINE_integer("seed", 0, "Seed of the reorganisation noise and of the sampler.")
flags.DEFINE_boolean("conditional", True, "Generate from test sketches; False: z ~ N(0, I).")
flags.DEFINE_boolean("color_by_category", False,
                     "Colour strokes by category as upstream (leaks the label into Rec).")
flags.DEFINE_boolean("z_ori_clean_strokes", False,
                     "code_*.npy from the clean chunks (upstream: reorganised chunks with the "
                     "clean graph, docs/differences.md#sg-b6).")
flags.DEFINE_integer("batch_size", 100, "Sketches per compiled sampler / encoder call.")
flags.DEFINE_boolean("write_svg", True, "Also write upstream's root c_i.svg files.")


def _is_flag_expecting_value(arg: str) -> bool:
    """True for `--name` / `-name` (no `=`) of a defined non-boolean flag."""
    if not arg.startswith("-") or "=" in arg:
        return False
    name = arg.lstrip("-")
    return name in FLAGS and not FLAGS[name].boolean


def parse_arguments(argv):
    """absl flag parsing in which a negative number (`-3`) is a positional argument.

    A flag error is printed as one `error: ...` line and exits with status 2.

    Args:
        argv: the command line, program name first.

    Returns:
        The program name and the positional arguments, in order.
    """
    protected = list(argv[:1])
    for previous, arg in zip(argv, argv[1:]):
        negative = NEGATIVE_NUMBER.fullmatch(arg) and not _is_flag_expecting_value(previous)
        protected.append(NUMBER_MARK + arg if negative else arg)
    try:
        rest = FLAGS(protected)
    except flags.Error as error:
        print(f"error: {' '.join(str(error).split())} (see --helpshort)", file=sys.stderr)
        sys.exit(2)
    return [arg[len(NUMBER_MARK):] if arg.startswith(NUMBER_MARK) else arg for arg in rest]


def _convert(name, raw):
    """A positional argument's value, typed."""
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


def _check_settings(values):
    """Range checks of the arguments, before anything is loaded."""
    if values["sample_size"] < 1:
        raise SketchConfigError(f"SAMPLE_SIZE (--sample_size): must be an integer >= 1 (test "
                                f"sketches per category), got {values['sample_size']}")
    if not (math.isfinite(values["re_scale"]) and values["re_scale"] >= 0):
        raise SketchConfigError(f"RE_SCALE (--re_scale): must be a number >= 0, got "
                                f"{values['re_scale']}")
    if values["ckpt_id"] < 0:
        raise SketchConfigError(f"CKPT_ID (--ckpt_id): must be >= 0 (0: CHECKPOINT_DIR itself), "
                                f"got {values['ckpt_id']}")
    if not FLAGS.categories and values["dataset_id"] not in (0, *hparams_lib.DATASETS):
        raise SketchConfigError(
            f"DATASET_ID (--dataset_id) {values['dataset_id']}: use 1, 2, 3 (upstream lists) or "
            "0 (the checkpoint's categories)")
    if FLAGS.batch_size < 1:
        raise SketchConfigError(f"--batch_size must be >= 1, got {FLAGS.batch_size}")
    if not (math.isfinite(FLAGS.temperature) and FLAGS.temperature >= 0):
        raise SketchConfigError(f"--temperature must be a number >= 0, got {FLAGS.temperature}")
    check_output_folder(values["output_dir"])


def _settings(argv):
    """Positional arguments (upstream) override the named flags."""
    positional = argv[1:]
    if len(positional) > len(POSITIONAL):
        raise SketchConfigError(
            f"too many positional arguments {positional}; expected SAMPLE_SIZE DATASET_ID "
            "OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID]")
    values = {
        "sample_size": FLAGS.sample_size if FLAGS.sample_size is not None
        else FLAGS.num_per_category,
        "dataset_id": FLAGS.dataset_id,
        "output_dir": FLAGS.output_dir,
        "re_scale": FLAGS.re_scale if FLAGS.re_scale is not None else 0.0,
        "checkpoint_dir": FLAGS.checkpoint_dir or FLAGS.model_dir,
        "ckpt_id": FLAGS.ckpt_id,
    }
    for name, raw in zip(POSITIONAL, positional):
        values[name] = _convert(name, raw)
    missing = [name for name in POSITIONAL[:5] if values[name] is None]
    if missing == ["dataset_id"] and FLAGS.categories:
        missing = []
    if missing:
        raise SketchConfigError(
            f"missing {', '.join(USAGE_NAMES[name] for name in missing)}: python sample_abs.py "
            "SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] (or the named "
            "flags)")
    _check_settings(values)
    return values


def main(argv):
    try:
        settings = _settings(argv)
        model, hparams = load_sampling_model(settings["checkpoint_dir"], settings["ckpt_id"])
        if FLAGS.categories:
            categories = list(FLAGS.categories)
        elif settings["dataset_id"] == 0:
            categories = list(hparams.categories)
        else:
            categories = list(hparams_lib.DATASETS[settings["dataset_id"]])
        logging.info("categories: %s", categories)
        data = prepare_data(FLAGS.data_dir, hparams.replace(categories=categories),
                            keep_sizes=True)
        options = SampleFolderOptions(
            sample_size=settings["sample_size"], re_scale=settings["re_scale"],
            temperature=FLAGS.temperature, greedy=FLAGS.greedy, seed=FLAGS.seed,
            conditional=FLAGS.conditional, z_ori_clean_strokes=FLAGS.z_ori_clean_strokes,
            color_by_category=FLAGS.color_by_category, batch_size=FLAGS.batch_size,
            write_svg=FLAGS.write_svg)
        written = generate_sample_folder(model, data.hparams, data.test, settings["output_dir"],
                                         options)
    except SketchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, count in written.items():
        print(f"{name}: {count} sketches in {os.path.join(settings['output_dir'], name)}")
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_arguments)
