"""The presets shipped in the packages: they load by name, their numbers hold on real drawings,
and the quick-start (docs/examples/quickstart.py) runs as written."""

import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bert_tf2 import SketchBert
from helpers.paths import REPO_ROOT
from sketch_common.presets import PresetError
from sketch_common.safe_pickle import load_npz
from sketchgloc_tf2 import SketchGloc

MAX_SHIPPED_BYTES = 25 * 2 ** 20


@pytest.fixture(scope="module")
def classifier():
    return SketchBert.from_preset("sketch_bert_qd336_small_cls")


def test_registries_list_the_shipped_presets_with_their_numbers():
    assert sorted(SketchGloc.presets) == ["sketchgloc_ds3_small"]
    assert sorted(SketchBert.presets) == ["sketch_bert_qd336_small", "sketch_bert_qd336_small_cls"]
    for metadata in list(SketchGloc.presets.values()) + list(SketchBert.presets.values()):
        assert {"description", "data", "license", "metrics", "recipe", "training"} <= set(metadata)
        assert "CC BY 4.0" in metadata["data"]
    gloc = SketchGloc.presets["sketchgloc_ds3_small"]["metrics"]
    assert 0 < gloc["ret_top_1"] <= gloc["ret_top_10"] <= gloc["ret_top_50"] <= 1
    assert gloc["rec"] > 1 / 8  # better than chance over the 8 categories
    cls = SketchBert.presets["sketch_bert_qd336_small_cls"]["metrics"]
    assert cls["accuracy_1"] >= 0.25 and cls["accuracy_5"] >= 0.5


def test_shipped_files_are_small_weights_files():
    files = [path for package in ("sketchgloc_tf2", "bert_tf2")
             for path in glob.glob(str(REPO_ROOT / package / "preset_files" / "*" / "*"))]
    assert sum(os.path.getsize(path) for path in files) <= MAX_SHIPPED_BYTES
    assert not [path for path in files if path.endswith((".npz", ".pkl", ".pth", ".tar"))]
    assert sum(path.endswith(".weights.h5") for path in files) == 3


def test_unknown_preset_names_list_the_known_ones():
    with pytest.raises(PresetError, match="registered: sketch_bert_qd336_small, "
                                          "sketch_bert_qd336_small_cls"):
        SketchBert.from_preset("sketch_bert_base")


@pytest.mark.parametrize("task, name, damage, error", [
    (SketchGloc, "sketchgloc_ds3_small", ("remove", "model.weights.h5"),
     "not a native checkpoint directory"),
    (SketchGloc, "sketchgloc_ds3_small", ("remove", "model_config.json"),
     "model_config.json: missing"),
    (SketchGloc, "sketchgloc_ds3_small", ("replace", "model_config.json", '"z_size": 64',
                                          '"z_size": 32'), "weights do not match"),
    (SketchBert, "sketch_bert_qd336_small", ("remove", "config.yml"), "config.yml not found"),
    (SketchBert, "sketch_bert_qd336_small", ("replace", "config.yml", "rec_layers_setting: [128, 64]",
                                             "rec_layers_setting: [64]"),
     "config.yml does not match .*checkpoint.json"),
    (SketchBert, "sketch_bert_qd336_small", ("replace", "preset.json", "{", "["),
     "preset.json: not readable JSON"),
])
def test_damaged_preset_directories_are_named(task, name, damage, error, tmp_path):
    package = "sketchgloc_tf2" if task is SketchGloc else "bert_tf2"
    folder = tmp_path / name
    shutil.copytree(REPO_ROOT / package / "preset_files" / name, folder)
    path = folder / damage[1]
    if damage[0] == "remove":
        path.unlink()
    else:
        text = path.read_text()
        assert damage[2] in text
        path.write_text(text.replace(damage[2], damage[3], 1))
    with pytest.raises(ValueError, match=error):
        task.from_preset(str(folder))


def test_the_classifier_names_the_categories_of_real_test_drawings(classifier, quickdraw_dir):
    names = classifier.class_names
    assert len(names) == 336 and "cat" in names
    assert names == sorted(names, key=lambda name: f"{name}.npz")  # label order = file order
    sketches, labels = [], []
    for label, name in enumerate(names[::8]):  # 42 categories, 4 test drawings each
        drawn = load_npz(os.path.join(quickdraw_dir, f"{name}.npz"))["test"][:4]
        sketches += [sketch for sketch in drawn if len(sketch) < 100]
        labels += [name] * sum(len(sketch) < 100 for sketch in drawn)
    predictions = classifier.classify(sketches, top_k=5)
    top1 = np.mean([top[0][0] == label for top, label in zip(predictions, labels)])
    top5 = np.mean([label in [name for name, _ in top] for top, label in zip(predictions, labels)])
    assert top1 >= 0.2 and top5 >= 0.4, (top1, top5)


def test_the_reorganisation_preset_reconstructs_real_drawings(quickdraw_dir):
    g = SketchGloc.from_preset("sketchgloc_ds3_small")
    cats = list(load_npz(os.path.join(quickdraw_dir, "cat.npz"))["test"][:3])
    out = g.reconstruct(cats, temperature=0.0, re_scale=0.3, seed=0)
    assert [sketch.shape[1] for sketch in out] == [3, 3, 3]
    assert all(1 < len(sketch) <= g.max_points for sketch in out)
    assert all(sketch[-1, 2] == 1 for sketch in out)


def test_quickstart_runs_as_written(quickdraw_dir, tmp_path):
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "examples" / "quickstart.py"),
         str(quickdraw_dir), str(tmp_path)], capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.splitlines()
    assert len([line for line in lines if "points:" in line]) == 4
    assert "SketchGloc codes (4, 64) Sketch-BERT embeddings (4, 128)" in lines[-1]
    assert (tmp_path / "sketchgloc.png").stat().st_size > 1000


def test_the_design_api_snippet_with_the_shipped_presets(quickdraw_dir, tmp_path):
    sketches = list(load_npz(os.path.join(quickdraw_dir, "bus.npz"))["test"][:3])
    g = SketchGloc.from_preset("sketchgloc_ds3_small")
    mu, logvar = g.encode(sketches)
    assert mu.shape == logvar.shape == (3, 64) and mu.dtype == np.float32
    z = mu
    out = g.sample(z, temperature=0.24, seed=None)
    assert len(out) == 3 and all(s.dtype == np.float32 and s.shape[1] == 3 for s in out)
    greedy = [g.sample(z, temperature=0.0, seed=seed) for seed in (1, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(*greedy))
    out = g.reconstruct(sketches, temperature=0.24, seed=None, re_scale=0.0)
    partial_sketches = [sketch[:5] for sketch in sketches]
    out = g.complete(partial_sketches, temperature=0.24, seed=None)
    assert all(np.array_equal(o[:5], p) for o, p in zip(out, partial_sketches))
    out = g.interpolate(sketches[0], sketches[1], steps=8, temperature=0.0, seed=None)
    assert len(out) == 8
    g.save_to_preset(str(tmp_path / "copy"))
    again = SketchGloc.from_preset(str(tmp_path / "copy"))
    np.testing.assert_array_equal(again.encode(sketches)[0], mu)
    ds = g.training_dataset(sketches, batch_size=2, re_scale=0.0, augment=False, seed=0)
    g.compile(optimizer="auto")
    history = g.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    b = SketchBert.from_preset("sketch_bert_qd336_small_cls")
    assert isinstance(b.class_names, list) and isinstance(b.class_names[0], str)
    top = b.classify(sketches, top_k=5)
    assert [len(row) for row in top] == [5, 5, 5]
    assert all(row[0][1] >= row[-1][1] for row in top)
    assert b.embed(sketches).shape == (3, 128)
    pretrained = SketchBert.from_preset("sketch_bert_qd336_small")
    assert pretrained.embed(sketches).dtype == np.float32
