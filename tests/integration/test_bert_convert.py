"""Converter: torch-free reader, state-dict mapping, position-row remap, checkpoint dirs."""

import json
import os

import keras
import numpy as np
import pytest

from bert_tf2.checkpoint import load_checkpoint
from bert_tf2.config import load_config
from bert_tf2.convert import load_torch_model
from bert_tf2.state_dicts import (POSITION_KEY, export_state_dicts, import_state_dicts,
                                  remap_position_rows)
from bert_tf2.errors import BertCheckpointError
from bert_tf2.model import build_model
from bert_tf2.torch_checkpoint import load_torch_checkpoint
from flags.bert_convert import main
from helpers.bert_models import random_batch, small_config
from helpers.paths import REPO_ROOT

CLS, REL = "sketchclsinput", "sketchretrieval"


def _params_txt_shapes(bundle, section):
    shapes, current = {}, None
    for line in (bundle / "params.txt").read_text().splitlines():
        if line.startswith("# ----"):
            break
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.startswith("  ") and not line.strip().startswith("#"):
            name, rest = line.split(None, 1)
            shapes[name] = tuple(int(d) for d in rest.split(")")[0].strip("(").split(",") if d)
    return shapes


def test_torch_free_reader_reads_the_fixture(bert_bundle):
    checkpoint = load_torch_checkpoint(bert_bundle / "ref_small.pth.tar", use_torch=False)
    expected = _params_txt_shapes(bert_bundle, "netE_state")
    assert {key: value.shape for key, value in checkpoint["netE_state"].items()} == expected
    assert list(checkpoint["netE_state"]) == list(expected)
    assert checkpoint["args"]["_cfg_dict"]["task_types"] == ["maskrec", CLS, REL]
    assert checkpoint["netE_kwargs"]["max_length"] == 42
    assert checkpoint["optE_state"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_torch_free_reader_matches_torch(tmp_path, bert_bundle):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    saved = {"transposed": base.t(), "slice": base[1:, 2:4], "long": torch.arange(5),
             "half": torch.ones(3, dtype=torch.float16), "flag": torch.tensor([True, False]),
             "scalar": torch.tensor(3.5), "nested": [{"x": base[0]}, (1, "a", None)]}
    path = tmp_path / "mixed.pth.tar"
    torch.save(saved, path)
    for file in (path, bert_bundle / "ref_small.pth.tar"):
        with_torch = load_torch_checkpoint(file, use_torch=True)
        without = load_torch_checkpoint(file, use_torch=False)
        _assert_same(with_torch, without)


def _assert_same(left, right):
    if isinstance(left, dict):
        assert list(left) == list(right)
        for key in left:
            _assert_same(left[key], right[key])
    elif isinstance(left, (list, tuple)):
        assert type(left) is type(right) and len(left) == len(right)
        for a, b in zip(left, right):
            _assert_same(a, b)
    elif isinstance(left, np.ndarray):
        assert left.dtype == right.dtype
        np.testing.assert_array_equal(left, right)
    else:
        assert left == right


def test_reader_rejects_non_zip_files(tmp_path):
    path = tmp_path / "legacy.pth.tar"
    path.write_bytes(b"\x80\x02legacy")
    with pytest.raises(BertCheckpointError, match="legacy"):
        load_torch_checkpoint(path, use_torch=False)


def _table(mapping, rows):
    return [mapping.get(row, "init") for row in range(rows)]


@pytest.mark.parametrize("own, pre, fixed, upstream", [
    ([CLS], ["maskrec"], ["init", 0, 1, 2], None),
    ([REL, CLS], ["maskrec"], ["init", "init", 0, 1], None),
    ([REL, CLS], [CLS], ["init", 0, 1, 2], [0, 1, 1, 2]),
    ([REL, CLS], [REL], [0, "init", 1, 2], None),
    ([CLS], [REL, CLS], [1, 2, 3, 4], None),
    ([REL], [REL, CLS], [0, 2, 3, 4], None),
    (["maskrec"], [REL, CLS], [2, 3, 4, 5], None),
])
def test_position_row_remap_matches_spec(own, pre, fixed, upstream):
    """Spec §3.7 verified outcomes; only own rel+cls / pre cls differs (the typo)."""
    rows = 4
    pre_rows = 6
    assert _table(remap_position_rows(rows, pre_rows, own, pre), rows) == fixed
    expected_upstream = upstream or fixed
    assert _table(remap_position_rows(rows, pre_rows, own, pre, fix_token_row_typo=False),
                  rows) == expected_upstream


@pytest.mark.parametrize("changes", [
    dict(model_type="bert", layers_setting=[[2, 16, 24], [4, 16, 40], [1, 16, 8]]),
    dict(position_type="learn", segment_type="learn", embed_layers_setting=[6, 10, 14]),
    dict(position_type="sin", task_types=["maskrec"]),
])
def test_state_dict_round_trip_reproduces_the_model(changes):
    config = small_config(**changes)
    keras.utils.set_random_seed(3)
    source = build_model(config)
    keras.utils.set_random_seed(4)
    target = build_model(config)
    state = export_state_dicts(source)
    if config["model_type"] == "bert":
        assert "encoder.layers.2.output.norm.weight" in state["netE_state"]
    else:
        assert "encoder.sketch_layer.attention.attention.query.weight" in state["netE_state"]
    summary = import_state_dicts(target, state, config["task_types"], config["task_types"])
    assert summary.fresh_position_rows == [] and summary.fresh_heads == []
    batch = random_batch(config, members=3 if REL in config["task_types"] else None)
    expected, actual = source(batch, training=False), target(batch, training=False)
    for task in expected:
        np.testing.assert_array_equal(actual[task], expected[task])


def test_mismatches_are_listed():
    config = small_config()
    model = build_model(config)
    state = export_state_dicts(model)
    encoder = dict(state["netE_state"])
    del encoder["embedding.embedding.bias"]
    encoder["encoder.sketch_layer.extra.weight"] = np.zeros(3)
    encoder["embed_refine_net.layers.0.weight"] = np.zeros((3, 3))
    with pytest.raises(BertCheckpointError) as error:
        import_state_dicts(model, {**state, "netE_state": encoder}, config["task_types"],
                           config["task_types"], source="bad.pth.tar")
    message = str(error.value)
    for expected in ("bad.pth.tar", "embedding.embedding.bias", "encoder.sketch_layer.extra",
                     "embed_refine_net.layers.0.weight: checkpoint (3, 3)", "fix:"):
        assert expected in message
    with pytest.raises(BertCheckpointError, match="netE_state"):
        import_state_dicts(model, {}, config["task_types"], config["task_types"])


def test_convert_cli_writes_a_native_checkpoint(tmp_path, bert_bundle, capsys):
    output = tmp_path / "converted"
    config_path = str(bert_bundle / "config.yml")
    assert main(["--torch_checkpoint", str(bert_bundle / "ref_small.pth.tar"),
                 "--config", config_path, "--output", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(os.listdir(output)) == ["checkpoint.json", "config.yml", "model.weights.h5",
                                          "preset.json"]
    metadata = json.loads((output / "checkpoint.json").read_text())
    assert metadata["fresh_heads"] == [] and metadata["fresh_position_rows"] == []
    config, model = load_checkpoint(str(output))
    reference, _ = load_torch_model(str(bert_bundle / "ref_small.pth.tar"), config_path)
    inputs = np.load(bert_bundle / "inputs.npz")
    batch = {"mask_input": inputs["mask_input"], "length_mask": inputs["length_mask"]}
    expected, actual = reference(batch, training=False), model(batch, training=False)
    for task in expected:
        np.testing.assert_array_equal(actual[task], expected[task])
    again = ["--torch_checkpoint", str(bert_bundle / "ref_small.pth.tar"), "--config",
             config_path, "--output", str(output)]
    with pytest.raises(BertCheckpointError, match="already holds a checkpoint.*--overwrite"):
        main(again)
    assert main(again + ["--overwrite"]) == 0


def test_pretrained_encoder_goes_into_the_finetuning_layout(tmp_path, bert_bundle):
    """F's encoder was restored from P upstream: rows 2.. = P rows, rows 0-1 fresh."""
    config = load_config(str(bert_bundle / "config.yml"))
    model, summary = load_torch_model(str(bert_bundle / "ref_small_pretrain.pth.tar"), config,
                                      use_torch=False)
    assert summary.fresh_position_rows == [0, 1]
    assert summary.fresh_heads == ["sketchclsinput", "sketchretrieval"]
    finetune = load_torch_checkpoint(bert_bundle / "ref_small.pth.tar")["netE_state"]
    converted = export_state_dicts(model)["netE_state"]
    for key, value in finetune.items():
        if key == POSITION_KEY:
            np.testing.assert_array_equal(converted[key][2:], value[2:])
        else:
            np.testing.assert_array_equal(converted[key], value)
    pretrain_dir = tmp_path / "pretrain"
    main(["--torch_checkpoint", str(bert_bundle / "ref_small_pretrain.pth.tar"),
          "--config", str(bert_bundle / "config_pretrain.yml"), "--output", str(pretrain_dir)])
    _, retargeted = load_checkpoint(str(pretrain_dir), config=str(bert_bundle / "config.yml"))
    position = export_state_dicts(retargeted)["netE_state"][POSITION_KEY]
    np.testing.assert_array_equal(position[2:], finetune[POSITION_KEY][2:])


def test_missing_checkpoint_dir_is_a_clear_error(tmp_path):
    with pytest.raises(BertCheckpointError, match="not a native Sketch-BERT checkpoint"):
        load_checkpoint(str(tmp_path))


def _default_params_sections(bundle):
    """`{section title letter: {state name: {key: shape}}}` of default_params.txt."""
    sections, letter, state = {}, None, None
    for line in (bundle / "default_params.txt").read_text().splitlines():
        if line.startswith("# A.") or line.startswith("# B."):
            letter = line[2]
            sections[letter] = {}
        elif line.startswith("[") and letter:
            state = line.strip("[]")
            sections[letter][state] = {}
        elif letter and state and line.startswith("  ") and not line.strip().startswith("#"):
            name, rest = line.split(None, 1)
            shape = tuple(int(d) for d in rest.split(")")[0].strip("(").split(",") if d)
            sections[letter][state][name] = shape
    return sections


@pytest.mark.parametrize("letter, tasks", [("A", ["maskrec"]), ("B", ["maskrec", CLS, REL])])
def test_published_configuration_has_the_released_layout(bert_bundle, letter, tasks):
    """The default 8 x [12, 768, 3072] ALBERT maps 1:1 onto the published state-dict layout."""
    expected = _default_params_sections(bert_bundle)[letter]
    config = load_config(os.path.join(REPO_ROOT, "bert_tf2", "configs",
                                      "sketch_transformer.yml"), {"task_types": tasks})
    model = build_model(config)
    exported = {state: {key: tuple(value.shape) for key, value in table.items()}
                for state, table in export_state_dicts(model).items()}
    assert exported == expected
    for state in expected:
        assert list(exported[state]) == list(expected[state])
