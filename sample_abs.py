"""Generate sketches from test sketches (upstream `sample_abs.py`).

    python sample_abs.py SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] \
        [--data_dir=DIR] [--greedy] [--temperature=0.24] [--seed=0] [--color_by_category]

or with named flags only: `--sample_size --dataset_id --output_dir --re_scale --checkpoint_dir
--ckpt_id`. DATASET_ID 1, 2, 3 select upstream's category lists; 0 uses the categories of the
checkpoint's `model_config.json`. CKPT_ID 0 (default) loads CHECKPOINT_DIR itself; another value
loads `CHECKPOINT_DIR/vector-<CKPT_ID>`. The output layout is upstream's (see
`sketchgloc_tf2.sampling.generate_sample_folder`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from sketchgloc_tf2 import hparams as hparams_lib  # noqa: E402
from sketchgloc_tf2.data.pipeline import prepare_data  # noqa: E402
from sketchgloc_tf2.errors import SketchConfigError, SketchError  # noqa: E402
from sketchgloc_tf2.sampling import (  # noqa: E402
    DEFAULT_TEMPERATURE,
    SampleFolderOptions,
    generate_sample_folder,
    load_sampling_model,
)

FLAGS = flags.FLAGS
POSITIONAL = ("sample_size", "dataset_id", "output_dir", "re_scale", "checkpoint_dir", "ckpt_id")

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
                     "clean graph, spec B6).")
flags.DEFINE_integer("batch_size", 100, "Sketches per compiled sampler / encoder call.")
flags.DEFINE_boolean("write_svg", True, "Also write upstream's root c_i.svg files.")


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
    types = {"sample_size": int, "dataset_id": int, "re_scale": float, "ckpt_id": int}
    for name, raw in zip(POSITIONAL, positional):
        try:
            values[name] = types.get(name, str)(raw)
        except ValueError:
            raise SketchConfigError(f"{name}: expected a number, got {raw!r}") from None
    missing = [name for name in POSITIONAL[:5] if values[name] is None]
    if missing and not (FLAGS.categories and missing == ["dataset_id"]):
        raise SketchConfigError(
            f"missing {', '.join(missing)}: python sample_abs.py SAMPLE_SIZE DATASET_ID "
            "OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID] (or the named flags)")
    return values


def main(argv):
    try:
        settings = _settings(argv)
        model, hparams = load_sampling_model(settings["checkpoint_dir"], settings["ckpt_id"])
        if FLAGS.categories:
            categories = list(FLAGS.categories)
        elif settings["dataset_id"] == 0:
            categories = list(hparams.categories)
        elif settings["dataset_id"] in hparams_lib.DATASETS:
            categories = list(hparams_lib.DATASETS[settings["dataset_id"]])
        else:
            raise SketchConfigError(
                f"DATASET_ID {settings['dataset_id']}: use 1, 2, 3 (upstream lists) or 0 (the "
                "checkpoint's categories)")
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
        logging.error("%s", error)
        return 1
    for name, count in written.items():
        print(f"{name}: {count} sketches in {os.path.join(settings['output_dir'], name)}")
    return 0


if __name__ == "__main__":
    app.run(main)
