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


@pytest.mark.parametrize("spec,message", [
    ("batch_size=0", "hparam batch_size=0 is out of range; allowed: batch_size >= 1"),
    ("enc_rnn_size=-4", "hparam enc_rnn_size=-4 is out of range; allowed: enc_rnn_size >= 1"),
    ("dec_rnn_size=0", "allowed: dec_rnn_size >= 1"),
    ("z_size=0", "hparam z_size=0 is out of range; allowed: z_size >= 1"),
    ("num_per_category=0", "hparam num_per_category=0 is out of range; allowed: "
                           "num_per_category >= 1"),
    ("num_per_category=-1", "hparam num_per_category=-1 is out of range"),
    ("num_mixture_components=0", "hparam num_mixture_components=0 is out of range; allowed: "
                                 "num_mixture_components >= 1"),
    ("num_mixture=0", "allowed: num_mixture >= 1"),
    ("recurrent_dropout_prob=0", "hparam recurrent_dropout_prob=0.0 is out of range; allowed: "
                                 "0 < recurrent_dropout_prob <= 1"),
    ("input_dropout_prob=1.5", "allowed: 0 < input_dropout_prob <= 1"),
    ("output_dropout_prob=-0.1", "allowed: 0 < output_dropout_prob <= 1"),
    ("re_scale=-0.1", "hparam re_scale=-0.1 is out of range; allowed: re_scale >= 0"),
    ("learning_rate=0", "allowed: learning_rate > 0"),
    ("min_learning_rate=-1e-5", "allowed: min_learning_rate >= 0"),
    ("decay_rate=0", "allowed: 0 < decay_rate <= 1"),
    ("decay_rate=1.01", "allowed: 0 < decay_rate <= 1"),
    ("grad_clip=0", "allowed: grad_clip > 0"),
    ("num_steps=0", "allowed: num_steps >= 1"),
    ("save_every=0", "allowed: save_every >= 1"),
    ("png_width=0", "allowed: png_width >= 1"),
    ("random_scale_factor=1", "allowed: 0 <= random_scale_factor < 1"),
    ("augment_stroke_prob=2", "allowed: 0 <= augment_stroke_prob <= 1"),
    ("max_seq_len=0", "allowed: max_seq_len >= 1, or -1 (computed from the data)"),
    ("normalizing_scale_factor=0", "allowed: normalizing_scale_factor > 0, or -1"),
    ("seed=-1", "allowed: 0 <= seed < 2**32"),
    ("enc_model=gru", "hparam enc_model='gru' is out of range; allowed: one of lstm, "
                      "layer_norm, hyper"),
    ("dec_model=LSTM", "hparam dec_model='LSTM' is out of range"),
    ("categories=[]", "hparam categories=[] is out of range; allowed: a non-empty list"),
    ("categories=[bee,bee]", "distinct"),
    ("learning_rate=nan", "hparam learning_rate=nan must be a finite number"),
    ("grad_clip=inf", "hparam grad_clip=inf must be a finite number"),
])
def test_out_of_range_hparams_are_one_line_errors(spec, message):
    with pytest.raises(SketchConfigError) as error:
        hparams_lib.HParams().parse(spec)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("values", [
    dict(recurrent_dropout_prob=1.0, input_dropout_prob=1, decay_rate=1.0),
    dict(re_scale=0.0, min_learning_rate=0.0, augment_stroke_prob=0.0, random_scale_factor=0),
    dict(batch_size=1, enc_rnn_size=1, dec_rnn_size=1, z_size=1, num_per_category=1),
    dict(max_seq_len=-1, max_stroke_len=1, normalizing_scale_factor=-1.0, seed=0),
])
def test_boundary_values_are_accepted(values):
    assert hparams_lib.HParams().replace(**values).values().items() >= values.items()


def test_constructor_and_types_are_checked():
    with pytest.raises(SketchConfigError, match=r"hparam batch_size=0 is out of range"):
        hparams_lib.HParams(batch_size=0)
    with pytest.raises(SketchConfigError, match=r"hparam batch_size='8' must be an integer"):
        hparams_lib.HParams(batch_size="8")
    with pytest.raises(SketchConfigError, match=r"hparam lr_decay=1 must be true or false"):
        hparams_lib.HParams(lr_decay=1)
    with pytest.raises(SketchConfigError, match=r"hparam categories='bee' must be a list"):
        hparams_lib.HParams(categories="bee")


def test_out_of_range_config_names_the_file(tmp_path):
    path = tmp_path / "model_config.json"
    values = hparams_lib.HParams().values()
    values["z_size"] = 0
    path.write_text(json.dumps(values))
    with pytest.raises(SketchConfigError, match=rf"^{path}: hparam z_size=0 is out of range"):
        hparams_lib.load_config(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(SketchConfigError, match="expected a JSON object"):
        hparams_lib.load_config(str(path))


def test_differences_lists_changed_hparams_in_order():
    old = hparams_lib.HParams()
    new = old.replace(z_size=8, batch_size=4, categories=["bee"])
    assert hparams_lib.differences(old, new) == {
        "categories": (old.categories, ["bee"]), "z_size": (128, 8), "batch_size": (100, 4)}
    assert hparams_lib.differences(old, new, ("z_size",)) == {"z_size": (128, 8)}


@pytest.mark.parametrize("content, message", [
    (b'{"z_size": "\xff"}', "not UTF-8 text"),
    (b"[1, 2]", "expected a JSON object of hparams, got list"),
    (b'{"z_size": [3]}', "bad value for hparam 'z_size'"),
    (b'{"z_size": "1e999"}', "bad value for hparam 'z_size'"),
])
def test_load_config_rejects_bad_files_in_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "model_config.json"
    path.write_bytes(content)
    with pytest.raises(SketchConfigError, match=message) as error:
        hparams_lib.load_config(str(path))
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)
