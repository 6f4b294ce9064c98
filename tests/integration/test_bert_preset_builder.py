"""`python -m bert_tf2.preset_builder`: memmaps, pre-training, fine-tuning, test and presets from
npz drawings; interrupted builds resume from the build records."""

import json

import numpy as np
import pytest

from bert_tf2 import SketchBert, preset_builder
from bert_tf2.errors import BertConfigError
from flags import bert_build_preset
from helpers.bert_data import tiny_config, write_memmaps
from sketch_common.presets import read_metadata


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert_presets")
    write_memmaps(root)  # root/{a,b,c}.npz: the "drawings"
    configs = root / "configs"
    configs.mkdir()
    tiny_config(configs, "pretrain", task_types=["maskrec"], num_epoch=1)
    tiny_config(configs, "cls", task_types=["sketchclsinput"], num_epoch=1, mask_prob=1.0,
                load_pretrained="pretrained", which_pretrained=["enc_net"])
    recipes = {
        "tiny": preset_builder.PresetRecipe("tiny pre-training", "pretrain.yml",
                                            metrics=("total", "mask_axis")),
        "tiny_cls": preset_builder.PresetRecipe("tiny classification", "cls.yml", parent="tiny",
                                                metrics=("accuracy_1", "accuracy_5")),
    }
    work = root / "work"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preset_builder, "CONFIG_DIR", str(configs))
        patch.setattr(preset_builder, "RECIPES", recipes)
        metadata = preset_builder.build_preset("tiny_cls", str(root), str(work))
    return root, work, recipes, metadata, configs


def test_build_pretrains_fine_tunes_and_writes_the_preset(built):
    root, work, _, metadata, _ = built
    preset = work / "tiny_cls_preset"
    assert read_metadata(str(preset)) == json.loads(json.dumps(metadata))
    assert 0 <= metadata["metrics"]["accuracy_1"] <= metadata["metrics"]["accuracy_5"] <= 1
    assert metadata["recipe"]["parent"] == "tiny"
    assert metadata["training"]["iterations"] == 48 // 8
    parent = json.loads((work / "tiny_build.json").read_text())
    assert parent["memmaps"] == {"classes": 3} and parent["test"]["mask_axis"] > 0
    task = SketchBert.from_preset(str(preset))
    assert task.class_names == ["a", "b", "c"]
    assert str(work) not in (preset / "config.yml").read_text()  # no machine paths shipped
    drawn = np.array([[0, 0, 0], [5, 3, 0], [4, -2, 1]], np.float32)
    assert [name for name, _ in task.classify([drawn], top_k=3)[0]] != []


def test_rebuild_reuses_the_record(built, monkeypatch):
    root, work, recipes, metadata, configs = built
    monkeypatch.setattr(preset_builder, "RECIPES", recipes)
    monkeypatch.setattr(preset_builder, "CONFIG_DIR", str(configs))
    with pytest.raises(BertConfigError, match="exists; pass --overwrite"):
        preset_builder.build_preset("tiny_cls", str(root), str(work))
    monkeypatch.setattr(preset_builder.Build, "train", lambda *args: pytest.fail("retrained"))
    monkeypatch.setattr(preset_builder.Build, "test", lambda *args: pytest.fail("retested"))
    again = preset_builder.build_preset("tiny_cls", str(root), str(work), overwrite=True)
    assert again == metadata


def test_bad_build_requests(tmp_path, capsys):
    with pytest.raises(BertConfigError, match="no recipe for preset 'x'; known: "
                                              "sketch_bert_qd336_small, sketch_bert_qd336_small_cls"):
        preset_builder.build_preset("x", str(tmp_path), str(tmp_path))
    with pytest.raises(BertConfigError, match="no <category>.npz files"):
        preset_builder.build_preset("sketch_bert_qd336_small", str(tmp_path), str(tmp_path / "w"))
    assert bert_build_preset.main(["--help"]) == 0
    assert "sketch_bert_qd336_small_cls" in capsys.readouterr().out
