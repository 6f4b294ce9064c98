"""Sketch-BERT Keras model: layer configs, serialisation, numerics against a NumPy reference."""

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf2.state_dicts import export_state_dicts
from bert_tf2.errors import BertConfigError
from bert_tf2.heads import MaskRecHead, SketchClsInputHead, SketchRetrievalHead, build_heads
from bert_tf2.layers.attention import SketchSelfAttention, attention_bias
from bert_tf2.layers import dropout as dropout_layers
from bert_tf2.layers.dropout import HashedDropout, hashed_dropout
from bert_tf2.layers.embedding import (PositionEmbedding, SegmentEmbedding, SketchEmbedding,
                                       sinusoid_position_table)
from bert_tf2.layers.linear import fused_linear, torch_linear
from bert_tf2.layers.transformer import SketchLayer, SketchTransformerStack
from bert_tf2.losses import (LossSettings, compute_losses, maskrec_losses, masked_mean,
                             triplet_loss)
from bert_tf2.model import SketchBertEncoder, SketchBertModel, build_model
from bert_tf2.optimizers import TorchAdam
from helpers.bert_models import numpy_encoder, random_batch, small_config
from helpers.paths import FIXTURES


@pytest.mark.parametrize("activation", [None, "gelu", "relu"])
@pytest.mark.parametrize("shape", [(6, 8), (2, 3, 8)])
def test_fused_linear_equals_the_dense_layer_and_its_activation(activation, shape):
    layer = torch_linear(5, 8, name="linear")
    layer.build((None, 8))
    layer.bias.assign(np.linspace(-1.0, 1.0, 5))
    inputs = tf.random.stateless_normal(shape, seed=[3, 4])
    expected = layer(inputs)
    if activation is not None:
        expected = keras.activations.get(activation)(expected)
    result = fused_linear(layer, inputs, activation)
    assert result.shape == shape[:-1] + (5,)
    np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("changes", [
    dict(),
    dict(model_type="bert", layers_setting=[[2, 16, 24], [4, 16, 40]]),
    dict(position_type="sin", segment_type="learn", embed_layers_setting=[6, 10, 14]),
    dict(position_type="none", task_types=["maskrec"]),
])
def test_encoder_matches_numpy_reference(changes):
    config = small_config(**changes)
    keras.utils.set_random_seed(1)
    model = build_model(config)
    batch = random_batch(config)
    state = export_state_dicts(model)["netE_state"]
    expected = numpy_encoder(state, config, batch["mask_input"], batch["length_mask"],
                             batch["segment"])
    actual = model.encoder(batch["mask_input"], batch["length_mask"], segments=batch["segment"],
                           training=False)
    np.testing.assert_allclose(actual, expected, atol=2e-5)


def test_albert_shares_one_layer_and_bert_does_not():
    albert = build_model(small_config())
    bert = build_model(small_config(model_type="bert"))
    assert len(albert.encoder.encoder.sketch_layers) == 1
    assert len(bert.encoder.encoder.sketch_layers) == 3
    per_layer = len(albert.encoder.encoder.sketch_layers[0].weights)
    assert len(bert.encoder.weights) - len(albert.encoder.weights) == 2 * per_layer


def test_encoder_returns_every_layer_and_attention():
    config = small_config()
    model = build_model(config)
    batch = random_batch(config)
    outputs = model.encoder(batch["mask_input"], batch["length_mask"], training=False,
                            output_all_states=True, output_attentions=True)
    assert len(outputs["layer_outputs"]) == 3
    np.testing.assert_array_equal(outputs["layer_outputs"][-1], outputs["sequence_output"])
    probabilities = np.asarray(outputs["attention_probabilities"][0])
    assert probabilities.shape == (3, 2, 12, 12)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    padded = batch["length_mask"][:, None, None, :] == 0
    assert np.all(np.where(padded, probabilities, 0.0) < 1e-3)


def test_attention_bias_is_additive_minus_10000():
    bias = np.asarray(attention_bias(np.array([[1.0, 1.0, 0.0]])))
    assert bias.shape == (1, 1, 1, 3)
    np.testing.assert_array_equal(bias.ravel(), [0.0, 0.0, -10000.0])
    assert np.asarray(attention_bias(np.ones((2, 3, 3)))).shape == (2, 1, 3, 3)


def test_sinusoid_table_formula():
    table = sinusoid_position_table(5, 4)
    assert table[3, 0] == pytest.approx(math.sin(3 / 0.5), abs=1e-6)
    assert table[3, 1] == pytest.approx(math.cos(3 / 0.5), abs=1e-6)
    assert table[3, 2] == pytest.approx(math.sin(3 / 1.5), abs=1e-6)
    assert table[3, 3] == pytest.approx(math.cos(3 / 1.5), abs=1e-6)


def test_dropout_only_in_training():
    config = small_config()
    model = build_model(config)
    batch = random_batch(config)
    first = model.encoder(batch["mask_input"], batch["length_mask"], training=False)
    second = model.encoder(batch["mask_input"], batch["length_mask"], training=False)
    np.testing.assert_array_equal(first, second)
    noisy = model.encoder(batch["mask_input"], batch["length_mask"], training=True)
    assert not np.allclose(first, noisy)


def test_hashed_dropout_keeps_one_minus_rate_scaled_and_repeats_with_its_seed():
    values = tf.random.stateless_uniform([64, 250, 40], seed=[1, 2], minval=0.5, maxval=1.5)
    seed = tf.constant([5, 9], tf.int64)
    dropped = hashed_dropout(values, 0.1, seed).numpy()
    kept = dropped != 0
    assert kept.mean() == pytest.approx(0.9, abs=0.003)
    np.testing.assert_allclose(dropped[kept], values.numpy()[kept] / 0.9, rtol=1e-6)
    np.testing.assert_array_equal(dropped, hashed_dropout(values, 0.1, seed).numpy())
    other = hashed_dropout(values, 0.1, seed + tf.constant([0, 1], tf.int64)).numpy() != 0
    assert (other != kept).mean() == pytest.approx(2 * 0.9 * 0.1, abs=0.005)


def test_hashed_dropout_gradient_applies_the_same_mask():
    values = tf.random.stateless_normal([6, 50, 16], seed=[3, 1])
    upstream = tf.random.stateless_normal([6, 50, 16], seed=[4, 1])
    seed = tf.constant([2, 7], tf.int64)
    with tf.GradientTape() as tape:
        tape.watch(values)
        dropped = hashed_dropout(values, 0.25, seed)
    gradient = tape.gradient(dropped, values, output_gradients=upstream).numpy()
    kept = dropped.numpy() != 0
    np.testing.assert_allclose(gradient, np.where(kept, upstream.numpy() / 0.75, 0.0), rtol=1e-6)


def test_hashed_dropout_inside_xla_draws_the_same_mask_and_gradient():
    values = tf.random.stateless_normal([4, 30, 16], seed=[5, 5])
    upstream = tf.random.stateless_normal([4, 30, 16], seed=[6, 5])
    seed = tf.constant([8, 1], tf.int64)
    inside_xla = []

    def dropped_and_gradient(values):
        inside_xla.append(dropout_layers._inside_xla_compilation())
        with tf.GradientTape() as tape:
            tape.watch(values)
            dropped = hashed_dropout(values, 0.3, seed)
        return dropped, tape.gradient(dropped, values, output_gradients=upstream)

    eager = dropped_and_gradient(values)
    compiled = tf.function(dropped_and_gradient, jit_compile=True)(values)
    for expected, result in zip(eager, compiled):
        np.testing.assert_allclose(result.numpy(), expected.numpy(), rtol=1e-6)
    assert 0.6 < (compiled[0].numpy() != 0).mean() < 0.8
    assert inside_xla == [False, True]


def test_hashed_dropout_layer_draws_fresh_masks_only_when_training():
    layer = HashedDropout(0.5, seed=3)
    values = tf.ones([4, 100])
    np.testing.assert_array_equal(layer(values, training=False), values)
    first, second = layer(values, training=True).numpy(), layer(values, training=True).numpy()
    assert set(np.unique(first)) == {0.0, 2.0} and not np.array_equal(first, second)
    np.testing.assert_array_equal(HashedDropout(0.0)(values, training=True), values)
    halves = HashedDropout(0.5, seed=3, dtype="mixed_bfloat16")(values, training=True)
    assert halves.dtype == tf.bfloat16 and set(np.unique(halves.numpy())) == {0.0, 2.0}
    for rate in (-0.1, 1.0):
        with pytest.raises(BertConfigError, match=f"dropout rate {rate} is outside"):
            HashedDropout(rate)


@pytest.mark.parametrize("layer", [
    HashedDropout(0.1, seed=4, name="d"),
    PositionEmbedding(7, 4, "sin", name="p"),
    SegmentEmbedding(7, 4, name="s"),
    SketchEmbedding(5, [4, 6], 8, 7, "learn", "learn", name="e"),
    SketchSelfAttention(2, 8, 0.1, name="a"),
    SketchLayer(2, 8, 12, 0.1, 0.2, 0.3, "relu", name="l"),
    SketchTransformerStack("bert", [[2, 8, 12], [4, 8, 6]], 0.1, 0.2, 0.3, name="t"),
    MaskRecHead(8, [6], 5, 2, name="m"),
    SketchClsInputHead(8, [], 3, 1, name="c"),
    SketchRetrievalHead(8, [4], 2, 0, name="r"),
    SketchBertEncoder("albert", [[2, 8, 12]], [4], 5, 7, name="enc"),
])
def test_get_config_round_trip(layer):
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config


def test_keras_file_round_trip(tmp_path):
    config = small_config(model_type="bert", segment_type="learn")
    model = build_model(config)
    batch = random_batch(config, members=3)
    expected = model(batch, training=False)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, SketchBertModel)
    actual = restored(batch, training=False)
    for task in expected:
        np.testing.assert_allclose(actual[task], expected[task], atol=1e-6)


def test_heads_pool_the_token_rows():
    config = small_config()
    heads = build_heads(config, 16)
    assert heads["maskrec"].num_prefix_tokens == 2
    assert heads["sketchclsinput"].pool_index == 1
    assert heads["sketchretrieval"].pool_index == 0
    assert build_heads(small_config(task_types=["sketchclsinput"]), 16)[
        "sketchclsinput"].pool_index == 0
    rec_setting = config["rec_layers_setting"]
    build_heads(config, 16)
    assert rec_setting == [12, 6]


def test_unsupported_options_raise_config_errors():
    with pytest.raises(BertConfigError, match="maskgmm"):
        build_heads(small_config(task_types=["maskgmm"]), 16)
    with pytest.raises(BertConfigError, match="discrete"):
        build_model(small_config(sketch_embed_type="discrete"))
    with pytest.raises(BertConfigError, match="multiple"):
        build_model(small_config(layers_setting=[[3, 16, 24]]))


def test_maskrec_losses_match_numpy():
    config = small_config(task_types=["maskrec"])
    batch = random_batch(config)
    rng = np.random.default_rng(3)
    prediction = rng.normal(size=batch["stroke"].shape).astype(np.float32)
    terms = maskrec_losses(prediction, batch["stroke"], batch["mask"],
                           LossSettings(("maskrec",), rec_axis_weight=1.0, rec_type_weight=0.5))
    error = np.abs(prediction[..., :2] - batch["stroke"][..., :2])
    masked = batch["mask"][..., :2] == 0
    logits = prediction[..., 2:].astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_p, batch["stroke"][..., 2:].argmax(-1)[..., None], -1)[..., 0]
    type_masked = batch["mask"][..., 2] == 0
    np.testing.assert_allclose(terms["mask_axis"], error[masked].mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["rec_axis"], error[~masked].mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["mask_type"], ce[type_masked].mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["rec_type"], 0.5 * ce[~type_masked].mean(), rtol=1e-5)


def test_empty_selection_contributes_zero():
    values = np.ones((2, 3), np.float32)
    assert float(masked_mean(values, np.zeros((2, 3), bool))) == 0.0
    assert float(masked_mean(values, np.eye(2, 3, dtype=bool))) == 1.0


def test_triplet_loss_formula():
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3))
    expected = np.maximum(np.linalg.norm(a - p + 1e-6, axis=-1)
                          - np.linalg.norm(a - n + 1e-6, axis=-1) + 2.0, 0).mean()
    np.testing.assert_allclose(triplet_loss(a, p, n, 2.0), expected, rtol=1e-5)


def test_compute_losses_uses_anchor_and_needs_members_for_retrieval():
    config = small_config()
    model = build_model(config)
    batch = random_batch(config, members=3)
    total, terms = compute_losses(model(batch, training=False), batch,
                                  LossSettings.from_config(config))
    assert set(terms) == {"mask_axis", "rec_axis", "mask_type", "rec_type", "prediction",
                          "triplet"}
    np.testing.assert_allclose(total, sum(float(v) for v in terms.values()), rtol=1e-6)
    single = random_batch(config)
    with pytest.raises(ValueError, match="triplet"):
        compute_losses(model(single, training=False), single, LossSettings.from_config(config))


def test_torch_adam_matches_torch_formula():
    variable = keras.Variable(np.array([1.0, -2.0, 0.5], np.float32))
    optimizer = TorchAdam(learning_rate=0.1)
    expected = variable.numpy().astype(np.float64)
    m = v = np.zeros(3)
    for step, gradient in enumerate([[1e-9, 2.0, -3.0], [0.5, -1e-7, 1.0], [1.0, 1.0, 1.0]], 1):
        gradient = np.array(gradient)
        optimizer.apply_gradients([(tf.constant(gradient, tf.float32), variable)])
        m = 0.9 * m + 0.1 * gradient
        v = 0.999 * v + 0.001 * gradient ** 2
        expected -= 0.1 / (1 - 0.9 ** step) * m / (np.sqrt(v) / np.sqrt(1 - 0.999 ** step) + 1e-8)
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_forward_compiles_with_xla():
    config = small_config(model_type="bert")
    model = build_model(config)
    batch = random_batch(config, members=3)
    inputs = {key: batch[key] for key in ("mask_input", "length_mask")}
    compiled = tf.function(lambda values: model(values, training=False), jit_compile=True)
    eager = model(inputs, training=False)
    for task, value in compiled(inputs).items():
        np.testing.assert_allclose(value, eager[task], atol=1e-5)


def test_mixed_bfloat16_policy_runs_and_stays_close():
    config = small_config()
    keras.utils.set_random_seed(2)
    reference = build_model(config)
    batch = random_batch(config, members=3)
    expected = reference(batch, training=False)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(config)
    finally:
        keras.config.set_dtype_policy("float32")
    model.set_weights(reference.get_weights())
    with tf.GradientTape() as tape:
        total, _ = compute_losses(model(batch, training=True), batch,
                                  LossSettings.from_config(config))
    gradients = tape.gradient(total, model.trainable_variables)
    assert all(g is not None and g.dtype == tf.float32 for g in gradients)
    actual = model(batch, training=False)
    for task in expected:
        np.testing.assert_allclose(np.asarray(actual[task], np.float32), expected[task],
                                   atol=0.15, rtol=0.05)


def test_trimmed_inference_matches_the_full_model_on_real_rows():
    from bert_tf2.inference import TrimmedPredictor, used_rows

    config = small_config(max_length=30)
    model = build_model(config)
    batch = random_batch(config, members=3)
    batch["length_mask"][..., 9:] = 0.0
    assert used_rows(batch["length_mask"], 4) == 12
    full = model(batch, training=False)
    trimmed = TrimmedPredictor(model, bucket_size=4, jit_compile=False)(batch)
    for task in ("sketchclsinput", "sketchretrieval"):
        np.testing.assert_allclose(trimmed[task], full[task], atol=1e-5)
    assert trimmed["maskrec"].shape == tuple(full["maskrec"].shape)
    real = batch["length_mask"][..., 2:] == 1
    np.testing.assert_allclose(trimmed["maskrec"][real], np.asarray(full["maskrec"])[real],
                               atol=1e-5)


def test_weights_saved_before_num_positions_still_load(tmp_path):
    """`model.weights.h5` written by the model code before issue 11 loads with identical numbers."""
    import h5py
    import yaml

    fixture = str(FIXTURES / "bert_legacy_weights")
    with open(os.path.join(fixture, "model_config.yml")) as handle:
        config = yaml.safe_load(handle)
    model = build_model(config)
    assert model.encoder.num_positions == config["max_length"] + 2
    weights_path = os.path.join(fixture, "model.weights.h5")
    model.load_weights(weights_path)
    stored = []
    with h5py.File(weights_path, "r") as handle:
        handle.visititems(lambda name, item: stored.append(name)
                          if isinstance(item, h5py.Dataset) else None)
    assert len(stored) == len(model.weights)
    with np.load(os.path.join(fixture, "expected.npz")) as expected:
        batch = {key[len("feeds/"):]: expected[key] for key in expected.files
                 if key.startswith("feeds/")}
        outputs = model(batch, training=False)
        for task, value in outputs.items():
            np.testing.assert_array_equal(np.asarray(value), expected[f"outputs/{task}"])
    # and it saves and loads again under the same paths
    model.save_weights(str(tmp_path / "again.weights.h5"))
    restored = build_model(config)
    restored.load_weights(str(tmp_path / "again.weights.h5"))
    for left, right in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(left.numpy(), right.numpy())
