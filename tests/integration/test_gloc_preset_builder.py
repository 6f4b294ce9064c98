"""`python -m sketchgloc_tf2.preset_builder`: a recipe trained, evaluated and written as a preset;
interrupted builds resume from the build record."""

import json
import os

import numpy as np
import pytest

from flags import gloc_build_preset
from sketch_common.errors import ConfigError
from sketch_common.presets import read_metadata
from sketchgloc_tf2 import SketchGloc, preset_builder
from sketchgloc_tf2.errors import SketchConfigError

TINY = preset_builder.PresetRecipe(
    description="tiny test recipe",
    hparams=("categories=[bee,bus],enc_rnn_size=8,dec_model=lstm,dec_rnn_size=16,z_size=4,"
             "num_mixture_components=3,batch_size=8,num_steps=4,re_scale=0.3,"
             "num_per_category=40"),
    sample_size=3, re_scale=0.3, recognizer_epochs=1)


@pytest.fixture(scope="module")
def built(quickdraw_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("gloc_presets")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(preset_builder.RECIPES, "tiny", TINY)
        metadata = preset_builder.build_preset("tiny", str(quickdraw_dir), str(work))
    return work, metadata


def test_build_writes_a_preset_with_measured_metrics(built):
    work, metadata = built
    preset = work / "tiny_preset"
    assert read_metadata(str(preset)) == json.loads(json.dumps(metadata))
    metrics = metadata["metrics"]
    assert set(metrics) >= {"ret_top_1", "ret_top_10", "ret_top_50", "rec"}
    assert 0 <= metrics["ret_top_1"] <= metrics["ret_top_10"] <= metrics["ret_top_50"] <= 1
    assert 0 <= metrics["rec"] <= 1
    assert metadata["training"]["steps"] == 4 and metadata["training"]["seconds"] > 0
    assert "6 reorganised sketches" in metrics["split"]
    assert metadata["recipe"]["command"].startswith("python -m sketchgloc_tf2.preset_builder")
    assert len(os.listdir(work / "tiny_samples" / "bee")) == 3
    task = SketchGloc.from_preset(str(preset))
    assert task.hparams.categories == ["bee", "bus"] and task.hparams.z_size == 4


def test_rebuild_reuses_finished_steps_and_refuses_to_overwrite(built, quickdraw_dir, monkeypatch):
    work, metadata = built
    monkeypatch.setitem(preset_builder.RECIPES, "tiny", TINY)
    with pytest.raises(SketchConfigError, match="exists; pass --overwrite"):
        preset_builder.build_preset("tiny", str(quickdraw_dir), str(work))
    for step in ("_train", "_sample", "_retrieval", "_recognition"):
        monkeypatch.setattr(preset_builder, step, lambda *args: pytest.fail("step rerun"))
    again = preset_builder.build_preset("tiny", str(quickdraw_dir), str(work),
                                        output_dir=str(work / "copy"))
    assert again == metadata
    first, second = SketchGloc.from_preset(str(work / "tiny_preset")), \
        SketchGloc.from_preset(str(work / "copy"))
    for a, b in zip(first.backbone.get_weights(), second.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_build_requests_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SketchConfigError, match="no recipe for preset 'nope'; known: "
                                                "sketchgloc_ds3_small"):
        preset_builder.build_preset("nope", str(tmp_path), str(tmp_path))
    (tmp_path / "sketchgloc_ds3_small_build.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a build record"):
        preset_builder.build_preset("sketchgloc_ds3_small", str(tmp_path), str(tmp_path))
    assert gloc_build_preset.main(["--help"]) == 0
    assert "--work_dir" in capsys.readouterr().out
