"""SketchGloc hparams: the legacy --hparams syntax, typing, errors and model_config.json I/O."""

import json

import pytest

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.errors import SketchConfigError


def test_defaults_are_upstream_rebranch():
    defaults = hparams_lib.HParams()
    assert defaults.categories == ["pig", "bee", "flower", "bus", "giraffe", "car", "cat", "horse"]
    assert (defaults.enc_rnn_size, defaults.z_size, defaults.batch_size) == (512, 128, 100)
    assert defaults.recurrent_dropout_prob == 0.9 and defaults.use_recurrent_dropout
    assert defaults.num_mixture_components == 20 and defaults.clip_node_length


def test_parse_list_and_typed_values():
    parsed = hparams_lib.HParams().parse(
        "categories=[bee, bus],re_scale=0.3,batch_size=16,use_recurrent_dropout=False,"
        "enc_model=layer_norm,learning_rate=1e-4")
    assert parsed.categories == ["bee", "bus"]
    assert parsed.re_scale == 0.3 and isinstance(parsed.re_scale, float)
    assert parsed.batch_size == 16 and isinstance(parsed.batch_size, int)
    assert parsed.use_recurrent_dropout is False
    assert parsed.enc_model == "layer_norm" and parsed.learning_rate == 1e-4


def test_great_wall_category_with_spaces():
    parsed = hparams_lib.parse_hparams("categories=[The Great Wall of China,bus]")
    assert parsed["categories"] == ["The Great Wall of China", "bus"]


@pytest.mark.parametrize("spec,message", [
    ("batch_size", r"malformed --hparams item 'batch_size'"),
    ("bach_size=4", r"unknown hparam\(s\) bach_size; valid names are: categories, num_steps"),
    ("batch_size=four", r"bad value for hparam 'batch_size'"),
    ("use_recurrent_dropout=maybe", r"bad value for hparam 'use_recurrent_dropout'"),
    ("categories=bee", r"expected a list like \[a,b\]"),
    ("categories=[bee,bus", r"unbalanced '\['"),
])
def test_malformed_hparams_are_rejected_clearly(spec, message):
    with pytest.raises(SketchConfigError, match=message):
        hparams_lib.parse_hparams(spec)


def test_config_round_trip_and_upstream_keys(tmp_path):
    path = tmp_path / "model_config.json"
    original = hparams_lib.HParams(categories=["bee"], max_seq_len=120,
                                   normalizing_scale_factor=12.5)
    hparams_lib.save_config(original, str(path))
    assert hparams_lib.load_config(str(path)) == original
    upstream = json.loads(path.read_text())
    upstream.pop("normalizing_scale_factor")
    upstream["abs_norm"] = 1.0
    path.write_text(json.dumps(upstream))
    loaded = hparams_lib.load_config(str(path))
    assert loaded.categories == ["bee"] and loaded.max_seq_len == 120
    with pytest.raises(SketchConfigError, match="abs_norm"):
        hparams_lib.from_dict(upstream, strict=True)


def test_fixture_config_loads_with_scale_factor(gloc_bundle):
    config = hparams_lib.load_config(str(gloc_bundle / "model_config.json"))
    assert config.categories == ["face", "house"]
    assert abs(config.normalizing_scale_factor - 24.7295208) < 1e-6


def test_missing_config_names_path(tmp_path):
    with pytest.raises(SketchConfigError, match="no model_config.json there"):
        hparams_lib.load_config(str(tmp_path / "model_config.json"))


def test_eval_copy_turns_dropout_off():
    evaluation = hparams_lib.HParams().eval_copy()
    assert not evaluation.use_recurrent_dropout and not evaluation.is_training
