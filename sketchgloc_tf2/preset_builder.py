"""Rebuilds a registered SketchGloc preset from the drawings: train, evaluate, write the preset.

`python -m sketchgloc_tf2.preset_builder sketchgloc_ds3_small --data_dir ../shared/data/quickdraw`
runs the preset's recipe (`RECIPES`) in `--work_dir` (default `runs/presets`):

1. `train.py` with the recipe's hparams into `WORK_DIR/<name>/` (resumed when interrupted; a
   finished run is reused);
2. `sample_abs.py` on every test sketch of the recipe's categories with the recipe's `re_scale`
   into `WORK_DIR/<name>_samples/`;
3. Ret (`retrieval.py`) of those samples, and Rec: a Sketch-a-Net trained on the same categories'
   training drawings (`WORK_DIR/<name>_recognizer/`) classifying them;
4. the preset directory (`--output_dir`, default `WORK_DIR/<name>_preset`): the best checkpoint
   and `preset.json` with the description, data, licence, metrics and times.

Each finished step's result is recorded in `WORK_DIR/<name>_build.json` (atomically), so a
killed build resumes where it stopped. `docs/presets.md` lists the measured numbers.
"""

import dataclasses
import os
import time

from sketch_common.atomic_io import atomic_directory
from sketch_common.build_record import BuildRecord
from sketch_common.presets import QUICKDRAW_ATTRIBUTION, build_output_directory
from sketch_common.tensorboard import event_seconds
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.errors import SketchConfigError



@dataclasses.dataclass(frozen=True)
class PresetRecipe:
    """How a preset is trained and measured.

    Attributes:
        description: one line for `SketchGloc.presets`.
        hparams: the `train.py --hparams` string (on top of upstream's defaults).
        sample_size: test sketches per category generated for Ret and Rec (all of them when
            larger than the split).
        re_scale: reorganisation noise of the evaluation inputs (upstream RE_SCALE).
        recognizer_epochs: training epochs of the Rec classifier (Sketch-a-Net, 96 px).
    """

    description: str
    hparams: str
    sample_size: int
    re_scale: float
    recognizer_epochs: int = 10

    @property
    def categories(self) -> list:
        """The categories of `hparams`, in label order."""
        return list(hparams_lib.parse_hparams(self.hparams)["categories"])


RECIPES = {
    "sketchgloc_ds3_small": PresetRecipe(
        description=("SketchGloc on the 8 ds3 Quick, Draw! categories (pig, bee, flower, bus, "
                     "giraffe, car, cat, horse) with the stroke-reorganisation task (re_scale "
                     "0.3): BiLSTM 128 stroke encoder + grid GCN, z 64, LSTM 256 decoder"),
        hparams=("categories=[pig,bee,flower,bus,giraffe,car,cat,horse],enc_rnn_size=128,"
                 "dec_model=lstm,dec_rnn_size=256,z_size=64,batch_size=32,num_steps=3000,"
                 "re_scale=0.3"),
        sample_size=42,
        re_scale=0.3),
}


def rebuild_command(name: str) -> str:
    """The documented command that rebuilds preset `name` (from the repository root)."""
    return (f"python -m sketchgloc_tf2.preset_builder {name} "
            "--data_dir ../shared/data/quickdraw")


def _train(recipe, data_dir, run_dir) -> dict:
    from sketchgloc_tf2 import training

    hparams = hparams_lib.HParams().replace(**hparams_lib.parse_hparams(recipe.hparams))
    trainer = training.start_run(data_dir, run_dir, hparams, resume=True)
    progress = trainer.run()
    return {"steps": int(progress.count), "epochs": int(progress.epoch),
            "best_valid_loss": float(progress.best_valid_loss),
            "seconds": round(event_seconds(run_dir), 1)}


def _sample(recipe, data_dir, run_dir, sample_dir) -> dict:
    from sketchgloc_tf2.convert import load_sampling_model
    from sketchgloc_tf2.data.pipeline import prepare_data
    from sketchgloc_tf2.sample_folder import SampleFolderOptions, generate_sample_folder

    start = time.time()
    model, hparams = load_sampling_model(run_dir)
    data = prepare_data(data_dir, hparams, keep_sizes=True)
    options = SampleFolderOptions(sample_size=recipe.sample_size, re_scale=recipe.re_scale,
                                  seed=0, write_svg=False)
    with atomic_directory(sample_dir) as staging:
        written = generate_sample_folder(model, data.hparams, data.test, staging, options)
    return {"sketches": int(sum(written.values())), "seconds": round(time.time() - start, 1)}


def _retrieval(run_dir, sample_dir) -> dict:
    from sketchgloc_tf2.convert import load_sampling_model
    from sketchgloc_tf2.retrieval import evaluate_sample_folder

    start = time.time()
    model, hparams = load_sampling_model(run_dir)
    result = evaluate_sample_folder(model, hparams, sample_dir)
    return {**{f"ret_top_{k}": float(v) for k, v in result.top_k.items()},
            "seconds": round(time.time() - start, 1)}


def _recognition(recipe, data_dir, recognizer_dir, sample_dir) -> dict:
    from sketchgloc_tf2 import recognition

    start = time.time()
    if not os.path.exists(os.path.join(recognizer_dir, recognition.MODEL_FILE)):
        recognition.train(data_dir, recipe.categories, recognizer_dir,
                          epochs=recipe.recognizer_epochs)
    model, config = recognition.load_recognizer(recognizer_dir)
    result = recognition.evaluate_folder(model, config, sample_dir)
    return {"rec": float(result["accuracy"]),
            "recognizer_valid_accuracy": float(config["valid_accuracy"]),
            "seconds": round(time.time() - start, 1)}


def build_preset(name: str, data_dir: str, work_dir: str = "runs/presets", output_dir=None,
                 overwrite: bool = False) -> dict:
    """Runs preset `name`'s recipe (see the module docstring) and writes its preset directory.

    Args:
        name: a key of `RECIPES`.
        data_dir: folder of the `<category>.npz` files (the shared Quick, Draw! drawings).
        work_dir: folder of the training run, samples, recognizer and build record.
        output_dir: the preset directory to write (default `WORK_DIR/<name>_preset`).
        overwrite: replace an existing `output_dir`.

    Returns:
        The preset's metadata (what `preset.json` holds).

    Raises:
        SketchConfigError: an unknown name, or an existing `output_dir` without `overwrite`.
    """
    output_dir = build_output_directory(name, RECIPES, work_dir, output_dir, overwrite,
                                        SketchConfigError)
    recipe = RECIPES[name]
    run_dir = os.path.join(work_dir, name)
    sample_dir = os.path.join(work_dir, f"{name}_samples")
    record = BuildRecord(os.path.join(work_dir, f"{name}_build.json"))
    steps = [
        ("train", lambda: _train(recipe, data_dir, run_dir)),
        ("sample", lambda: _sample(recipe, data_dir, run_dir, sample_dir)),
        ("retrieval", lambda: _retrieval(run_dir, sample_dir)),
        ("recognition", lambda: _recognition(
            recipe, data_dir, os.path.join(work_dir, f"{name}_recognizer"), sample_dir)),
    ]
    for step, run in steps:
        record.run(step, run)
    results = record.steps
    metadata = {
        "name": name,
        "description": recipe.description,
        "data": QUICKDRAW_ATTRIBUTION,
        "license": "CC BY 4.0",
        "recipe": {"hparams": recipe.hparams, "command": rebuild_command(name)},
        "metrics": {
            "split": f"test, {results['sample']['sketches']} reorganised sketches "
                     f"(re_scale {recipe.re_scale})",
            **{key: value for key, value in results["retrieval"].items() if key != "seconds"},
            "rec": results["recognition"]["rec"],
            "recognizer_valid_accuracy": results["recognition"]["recognizer_valid_accuracy"]},
        "training": dict(results["train"]),
        "evaluation_seconds": round(sum(results[step]["seconds"]
                                        for step in ("sample", "retrieval", "recognition")), 1),
    }
    from sketchgloc_tf2.task import SketchGloc

    with atomic_directory(output_dir) as staging:
        SketchGloc.from_checkpoint(run_dir).save_to_preset(staging, metadata)
    return metadata


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_build_preset")
