"""Rebuilds a registered Sketch-BERT preset from the drawings: memmaps, training, test, preset.

`python -m bert_tf2.preset_builder sketch_bert_qd336_small_cls --data_dir ../shared/data/quickdraw`
runs the preset's recipe (`RECIPES`) in `--work_dir` (default `runs/presets`):

1. the memmaps of every `<category>.npz` in `--data_dir` (sorted by name, which is the label
   order) into `WORK_DIR/qd336/`;
2. the recipe's parent first (the classification preset fine-tunes the pre-trained encoder);
3. `python -m bert_tf2 train` on the recipe's YAML (`bert_tf2/configs/`) into
   `WORK_DIR/sketch_transformer/<log_dir>/` (continued from `latest/` when interrupted);
4. `python -m bert_tf2 test` of its `best/` checkpoint on the whole test split;
5. the preset directory (`--output_dir`, default `WORK_DIR/<name>_preset`): the best weights,
   the class names and `preset.json` (description, data, licence, metrics, times).

Finished steps are recorded in `WORK_DIR/<name>_build.json`, so a killed build resumes.
`docs/presets.md` lists the measured numbers.
"""

import dataclasses
import glob
import os
import time

from bert_tf2.config import load_config
from bert_tf2.errors import BertConfigError
from sketch_common.build_record import BuildRecord
from sketch_common.presets import QUICKDRAW_ATTRIBUTION, build_output_directory
from sketch_common.tensorboard import event_seconds

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
MEMMAP_FOLDER = "qd336"
RUN_KEYS = ("sum_path", "offset_path", "log_root", "load_pretrained", "which_pretrained",
            "restore_checkpoint_path")
RESUME = ["--load_pretrained=continue", "--which_pretrained=[enc_net,enc_opt,task_net,task_opt]"]


@dataclasses.dataclass(frozen=True)
class PresetRecipe:
    """How a preset is trained and measured.

    Attributes:
        description: one line for `SketchBert.presets`.
        config: the YAML file in `bert_tf2/configs/`.
        parent: the preset whose best checkpoint the training restores (`restore_checkpoint_path`),
            or None.
        metrics: names of the test metrics reported in `preset.json`.
    """

    description: str
    config: str
    parent: str = None
    metrics: tuple = ()


RECIPES = {
    "sketch_bert_qd336_small": PresetRecipe(
        description=("Sketch-BERT (BERT, 4 layers x [4 heads, hidden 128, intermediate 512], "
                     "max_length 100) pre-trained with Sketch Gestalt masked reconstruction "
                     "(maskrec) on all 336 shared Quick, Draw! categories; maskrec head"),
        config="qd336_small_pretrain.yml",
        metrics=("total", "mask_axis", "mask_type")),
    "sketch_bert_qd336_small_cls": PresetRecipe(
        description=("sketch_bert_qd336_small fine-tuned for classification over the 336 shared "
                     "Quick, Draw! categories (class names included)"),
        config="qd336_small_cls.yml",
        parent="sketch_bert_qd336_small",
        metrics=("accuracy_1", "accuracy_5")),
}


def rebuild_command(name: str) -> str:
    """The documented command that rebuilds preset `name` (from the repository root)."""
    return f"python -m bert_tf2.preset_builder {name} --data_dir ../shared/data/quickdraw"


class Build:
    """One build of preset recipes sharing a data folder and a work folder."""

    def __init__(self, data_dir: str, work_dir: str):
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.memmap_dir = os.path.join(work_dir, MEMMAP_FOLDER)
        self._configs = {}

    def data_overrides(self) -> list:
        return [f"--sum_path={os.path.join(self.memmap_dir, 'memmap_sum.txt')}",
                f"--offset_path={os.path.join(self.memmap_dir, 'offsets.npz')}"]

    def recipe_config(self, name: str):
        """The `Config` of preset `name`'s YAML recipe (read once per build)."""
        if name not in self._configs:
            self._configs[name] = load_config(os.path.join(CONFIG_DIR, RECIPES[name].config))
        return self._configs[name]

    def run_dir(self, name: str) -> str:
        config = self.recipe_config(name)
        return os.path.join(self.work_dir, config.trainer, config.log_dir)

    def memmaps(self) -> dict:
        from bert_tf2.data.memmap_builder import build_memmaps

        sum_path = os.path.join(self.memmap_dir, "memmap_sum.txt")
        if not os.path.exists(sum_path):
            paths = sorted(glob.glob(os.path.join(self.data_dir, "*.npz")))
            if not paths:
                raise BertConfigError(f"{self.data_dir}: no <category>.npz files")
            build_memmaps(paths, self.memmap_dir)
        with open(sum_path, encoding="utf-8") as handle:
            return {"classes": sum(1 for line in handle if line.strip())}

    def train(self, name: str) -> dict:
        from bert_tf2.run_modes import run_mode

        recipe = RECIPES[name]
        run_dir = self.run_dir(name)
        overrides = self.data_overrides() + [f"--log_root={self.work_dir}"]
        latest = os.path.join(run_dir, "latest")
        if os.path.isdir(latest):
            overrides += RESUME + [f"--restore_checkpoint_path={latest}"]
        elif recipe.parent:
            parent_best = os.path.join(self.run_dir(recipe.parent), "best")
            overrides.append(f"--restore_checkpoint_path={parent_best}")
        metrics = run_mode("train", os.path.join(CONFIG_DIR, recipe.config), overrides)
        return {"iterations": int(metrics["iteration"]), "best_iteration": int(metrics["best_t"]),
                "best_valid_metric": float(metrics["best_metric"]),
                "seconds": round(event_seconds(run_dir), 1)}

    def test(self, name: str) -> dict:
        from bert_tf2.run_modes import run_mode

        start = time.time()
        metrics = run_mode("test", os.path.join(self.run_dir(name), "best"),
                           self.data_overrides() + ["--eval_split=test", "--max_val_batches=0"])
        values = {key: float(metrics["val"][key]) for key in RECIPES[name].metrics}
        return {**values, "seconds": round(time.time() - start, 1)}

    def build(self, name: str, output_dir=None) -> dict:
        """Runs the steps of `name` (and of its parent) not yet recorded; writes the preset when
        `output_dir` is given. Returns the preset metadata."""
        recipe = RECIPES[name]
        record = BuildRecord(os.path.join(self.work_dir, f"{name}_build.json"))
        steps = [("memmaps", self.memmaps)]
        if recipe.parent:
            steps.append(("parent", lambda: self.build(recipe.parent)))
        steps += [("train", lambda: self.train(name)), ("test", lambda: self.test(name))]
        for step, run in steps:
            record.run(step, run)
        results = record.steps
        metadata = {
            "name": name,
            "description": recipe.description,
            "data": QUICKDRAW_ATTRIBUTION,
            "license": "CC BY 4.0",
            "recipe": {"config": f"bert_tf2/configs/{recipe.config}", "parent": recipe.parent,
                       "command": rebuild_command(name)},
            "metrics": {"split": "test (all sketches of every category)",
                        **{key: value for key, value in results["test"].items()
                           if key != "seconds"}},
            "training": results["train"],
            "evaluation_seconds": results["test"]["seconds"],
        }
        if output_dir:
            from bert_tf2.task import SketchBert

            task = SketchBert.from_checkpoint(os.path.join(self.run_dir(name), "best"))
            recipe_values = self.recipe_config(name).to_dict()
            for key in RUN_KEYS:  # the recipe's values, not this machine's paths
                task.config[key] = recipe_values[key]
            task.save_to_preset(output_dir, metadata)
        return metadata


def build_preset(name: str, data_dir: str, work_dir: str = "runs/presets", output_dir=None,
                 overwrite: bool = False) -> dict:
    """Runs preset `name`'s recipe (see the module docstring) and writes its preset directory.

    Args:
        name: a key of `RECIPES`.
        data_dir: folder of the `<category>.npz` files (the shared Quick, Draw! drawings).
        work_dir: folder of the memmaps, training runs and build records.
        output_dir: the preset directory to write (default `WORK_DIR/<name>_preset`).
        overwrite: replace an existing `output_dir`.

    Returns:
        The preset's metadata (what `preset.json` holds).

    Raises:
        BertConfigError: an unknown name, or an existing `output_dir` without `overwrite`.
    """
    output_dir = build_output_directory(name, RECIPES, work_dir, output_dir, overwrite,
                                        BertConfigError)
    return Build(data_dir, work_dir).build(name, output_dir)


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_build_preset")
