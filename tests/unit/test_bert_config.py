"""Tests of `bert_tf2.config`: upstream YAML semantics, overrides, saving, shipped configs."""

import os
import pathlib

import pytest
import yaml

from bert_tf2 import config as config_lib
from bert_tf2.errors import BertConfigError

CONFIG_DIR = pathlib.Path(config_lib.__file__).parent / "configs"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_pyyaml_11_types_and_none_string(tmp_path):
    path = _write(tmp_path, "c.yml", "learning_rate: 0.0001\ntriplet_margin: 0.\n"
                                     "restore_checkpoint_path: 1e-4\nshuffle_val: True\n"
                                     "cls_limit_path: None\ngpu_ids: {a: None, b: 2}\n"
                                     "max_size: [1, 2]\n")
    cfg = config_lib.load_config(path)
    assert isinstance(cfg.learning_rate, float) and cfg.learning_rate == 0.0001
    assert isinstance(cfg.triplet_margin, float)
    assert cfg.restore_checkpoint_path == "1e-4"  # PyYAML 1.1: no dot → string
    assert cfg.shuffle_val is True
    assert cfg.cls_limit_path is None and cfg["cls_limit_path"] is None
    assert cfg.to_dict()["cls_limit_path"] == "None"
    assert cfg.gpu_ids.a is None and cfg.gpu_ids["b"] == 2
    cfg.max_size.append(3)  # lists by reference, as upstream
    assert cfg.max_size == [1, 2, 3]


def test_missing_key_is_key_and_attribute_error(tmp_path):
    cfg = config_lib.load_config(_write(tmp_path, "c.yml", "batch_size: 1\n"))
    with pytest.raises(KeyError, match="'cls_dim'"):
        cfg["cls_dim"]
    with pytest.raises(AttributeError):
        cfg.cls_dim
    assert getattr(cfg, "cls_dim", 5) == 5
    assert cfg.seed == config_lib.PORT_DEFAULTS["seed"]


def test_include_relative_to_including_file(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    _write(sub, "layers.yml", "[[2, 32, 64], !include ../last.yml]\n")
    _write(tmp_path, "last.yml", "[4, 32, 64]\n")
    _write(sub, "note.txt", "hello")
    path = _write(tmp_path, "c.yml", "layers_setting: !include sub/layers.yml\n"
                                     "log_dir: !include sub/note.txt\n")
    cfg = config_lib.load_config(path)
    assert cfg.layers_setting == [[2, 32, 64], [4, 32, 64]] and cfg.log_dir == "hello"


def test_overrides_are_yaml_typed(tmp_path):
    path = _write(tmp_path, "c.yml", "mask_prob: 0.85\ntask_types: [maskrec]\n"
                                     "cls_limit_path: x\nbatch_size: 10\n")
    cfg = config_lib.load_config(path, ["--mask_prob=1.0", "--task_types=[maskrec, sketchclsinput]",
                                        "--cls_limit_path=''", "--batch_size=4", "--seed=7"])
    assert cfg.mask_prob == 1.0 and isinstance(cfg.mask_prob, float)
    assert cfg.task_types == ["maskrec", "sketchclsinput"]
    assert cfg.cls_limit_path == ""
    assert cfg.batch_size == 4 and cfg.seed == 7
    assert config_lib.load_config(path).jit_compile == "auto"
    assert config_lib.load_config(path, ["--jit_compile=True"]).jit_compile is True
    with pytest.raises(BertConfigError, match=r"jit_compile = 'always' is invalid: must be one of "
                                              r"\['auto', True, False\]"):
        config_lib.load_config(path, ["--jit_compile=always"])
    with pytest.raises(BertConfigError, match="batch_sise.*did you mean batch_size"):
        config_lib.load_config(path, ["--batch_sise=4"])
    with pytest.raises(BertConfigError, match="--key=value"):
        config_lib.load_config(path, ["batch_size=4"])


def test_save_round_trip(tmp_path):
    cfg = config_lib.load_config(str(CONFIG_DIR / "sketch_transformer.yml"))
    out = tmp_path / "out" / "saved.yml"
    cfg.save(str(out))
    again = config_lib.load_config(str(out))
    assert again.to_dict() == cfg.to_dict()
    assert not [p for p in os.listdir(out.parent) if p.endswith(".tmp")]


def test_bad_files_raise_config_error(tmp_path):
    with pytest.raises(BertConfigError, match="cannot read"):
        config_lib.load_config(str(tmp_path / "missing.yml"))
    with pytest.raises(BertConfigError, match="mapping"):
        config_lib.load_config(_write(tmp_path, "list.yml", "- 1\n- 2\n"))


def test_default_config_has_upstream_keys_and_values():
    cfg = config_lib.load_config(str(CONFIG_DIR / "sketch_transformer.yml"))
    assert cfg.max_length == 250 and cfg.mask_prob == 0.85 and cfg.learning_rate == 0.0001
    assert cfg.layers_setting == [[12, 768, 3072]] * 8
    assert cfg.embed_layers_setting == [128, 256, 512]
    assert cfg.task_types == ["maskrec"] and cfg.get_type == "single"
    assert cfg.cls_limit_path == "" and cfg.shuffle_val is False
    for key in config_lib.UNUSED_KEYS:
        assert key in cfg, key


def test_fixture_configs_load(bert_bundle):
    for name in ("config.yml", "config_pretrain.yml"):
        cfg = config_lib.load_config(str(bert_bundle / name))
        raw = yaml.safe_load(open(bert_bundle / name))
        assert all(cfg.to_dict()[key] == value for key, value in raw.items())


@pytest.mark.parametrize("name", ["quickdraw_small_pretrain.yml", "quickdraw_small_cls.yml",
                                  "quickdraw_small_retrieval.yml"])
def test_worked_example_configs_match_default_keys(name):
    default = config_lib.load_config(str(CONFIG_DIR / "sketch_transformer.yml")).to_dict()
    cfg = config_lib.load_config(str(CONFIG_DIR / name)).to_dict()
    assert list(cfg) == list(default)
    if "sketchretrieval" in cfg["task_types"]:
        assert cfg["get_type"] == "triplet"
