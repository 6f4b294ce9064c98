"""SketchGloc recurrent cells and stroke encoder against numpy re-implementations of
docs/differences.md#sg-3-2/#sg-3-3."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sketchgloc_tf2.layers import cells as cells_lib
from sketch_common import hashed_random
from sketchgloc_tf2.layers.cells import HyperLSTMCell, LayerNormLSTMCell, LSTMCell
from sketchgloc_tf2.layers.recurrence import run_recurrences
from sketchgloc_tf2.layers.stroke_encoder import StrokeEncoder, reverse_valid_steps
from helpers.gloc_models import make, randomise

TOL = dict(rtol=1e-5, atol=1e-5)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_layer_norm(x, blocks, gamma, beta):
    shaped = x.reshape(x.shape[0], blocks, -1)
    mean = shaped.mean(axis=2, keepdims=True)
    var = ((shaped - mean) ** 2).mean(axis=2, keepdims=True)
    return gamma * ((shaped - mean) / np.sqrt(var + 1e-3)).reshape(x.shape) + beta


def np_lstm(w, x, state, units):
    c, h = state[:, :units], state[:, units:]
    i, j, f, o = np.split(np.concatenate([x, h], 1) @ np.concatenate([w["W_xh"], w["W_hh"]]) + w["bias"], 4, 1)
    c2 = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
    h2 = np.tanh(c2) * sigmoid(o)
    return h2, np.concatenate([c2, h2], 1)


def np_ln_lstm(w, x, state, units):
    h, c = state[:, :units], state[:, units:]
    pre = np.concatenate([x, h], 1) @ np.concatenate([w["W_xh"], w["W_hh"]])
    i, j, f, o = np.split(np_layer_norm(pre, 4, w["ln_all_gamma"], w["ln_all_beta"]), 4, 1)
    c2 = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
    h2 = np.tanh(np_layer_norm(c2, 1, w["ln_c_gamma"], w["ln_c_beta"])) * sigmoid(o)
    return h2, np.concatenate([h2, c2], 1)


def np_hyper(w, sub, x, state, units, hyper_units):
    h, h_hyp = state[:, :units], state[:, units:units + hyper_units]
    c, c_hyp = state[:, units + hyper_units:2 * units + hyper_units], state[:, 2 * units + hyper_units:]
    a, sub_state = np_ln_lstm(sub, np.concatenate([x, h], 1), np.concatenate([h_hyp, c_hyp], 1), hyper_units)
    xh = np.split(x @ w["W_xh"], 4, 1)
    hh = np.split(h @ w["W_hh"], 4, 1)
    bias = np.split(w["bias"], 4)
    gates = []
    for gate in range(4):
        alpha_x = (a @ w["hyper_zw_kernel"][gate] + w["hyper_zw_bias"][gate]) @ w["hyper_alpha_kernel"][gate]
        alpha_h = (a @ w["hyper_zw_kernel"][4 + gate] + w["hyper_zw_bias"][4 + gate]) @ w["hyper_alpha_kernel"][4 + gate]
        beta_h = (a @ w["hyper_zb_kernel"][gate]) @ w["hyper_beta_kernel"][gate]
        gates.append(alpha_x * xh[gate] + alpha_h * hh[gate] + beta_h + bias[gate])
    i, j, f, o = np.split(np_layer_norm(np.concatenate(gates, 1), 4, w["ln_all_gamma"], w["ln_all_beta"]), 4, 1)
    c2 = c * sigmoid(f + 1.0) + sigmoid(i) * np.tanh(j)
    h2 = np.tanh(np_layer_norm(c2, 1, w["ln_c_gamma"], w["ln_c_beta"])) * sigmoid(o)
    hyp_h, hyp_c = np.split(sub_state, 2, 1)
    return h2, np.concatenate([h2, hyp_h, c2, hyp_c], 1)


WEIGHT_NAMES = ("W_xh", "W_hh", "bias", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta",
                "hyper_zw_kernel", "hyper_zw_bias", "hyper_alpha_kernel", "hyper_zb_kernel",
                "hyper_beta_kernel")


def weights_of(cell):
    """The cell's own weights (not its sub-cell's) as float64 arrays."""
    return {name: getattr(cell, name).numpy().astype(np.float64)
            for name in WEIGHT_NAMES if hasattr(cell, name)}


def numpy_step(cell, x, state):
    if isinstance(cell, HyperLSTMCell):
        return np_hyper(weights_of(cell), weights_of(cell.hyper_cell), x, state, cell.units,
                        cell.hyper_num_units)
    if isinstance(cell, LayerNormLSTMCell):
        return np_ln_lstm(weights_of(cell), x, state, cell.units)
    return np_lstm(weights_of(cell), x, state, cell.units)


CELL_CLASSES = [LSTMCell, LayerNormLSTMCell, HyperLSTMCell]


@pytest.mark.parametrize("cell_class", CELL_CLASSES)
def test_cell_step_matches_numpy_equations(cell_class):
    rng = np.random.default_rng(1)
    cell = make(cell_class)
    randomise(cell, rng)
    x = rng.normal(size=(4, 3))
    state = rng.normal(size=(4, cell.state_size))
    output, (new_state,) = cell(tf.constant(x, tf.float32), [tf.constant(state, tf.float32)])
    expected_output, expected_state = numpy_step(cell, x, state)
    np.testing.assert_allclose(output.numpy(), expected_output, **TOL)
    np.testing.assert_allclose(new_state.numpy(), expected_state, **TOL)


def test_state_layouts_and_sizes():
    assert make(LSTMCell).state_size == 10
    assert make(LayerNormLSTMCell).state_size == 10
    hyper = make(HyperLSTMCell)
    assert hyper.state_size == 2 * (5 + 7) and hyper.output_size == 5
    assert HyperLSTMCell(32).hyper_num_units == 256 and HyperLSTMCell(32).hyper_embedding_size == 32
    state = tf.reshape(tf.range(10, dtype=tf.float32), [1, 10])
    np.testing.assert_array_equal(make(LSTMCell).output_from_state(state), [[5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(make(LayerNormLSTMCell).output_from_state(state), [[0, 1, 2, 3, 4]])
    assert make(LSTMCell).get_initial_state(3)[0].shape == (3, 10)


def test_initialisers():
    keras.utils.set_random_seed(3)
    cell = make(HyperLSTMCell, units=6, input_dim=4)
    limit = np.sqrt(6.0 / (4 + 24))
    assert np.abs(cell.W_xh.numpy()).max() <= limit
    for block in np.split(cell.W_hh.numpy(), 4, axis=1):
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)
    blocks = np.split(cell.W_hh.numpy(), 4, axis=1)
    assert not np.allclose(blocks[0], blocks[1])
    np.testing.assert_array_equal(cell.bias.numpy(), 0.0)
    np.testing.assert_array_equal(cell.ln_all_gamma.numpy(), 1.0)
    np.testing.assert_array_equal(cell.ln_c_beta.numpy(), 0.0)
    np.testing.assert_array_equal(cell.hyper_zw_kernel.numpy(), 0.0)
    np.testing.assert_array_equal(cell.hyper_zw_bias.numpy(), 1.0)
    np.testing.assert_allclose(cell.hyper_alpha_kernel.numpy(), 0.1 / 4)
    np.testing.assert_array_equal(cell.hyper_beta_kernel.numpy(), 0.0)
    assert 0.0 < cell.hyper_zb_kernel.numpy().std() < 0.02
    assert cell.hyper_cell.W_xh.shape == (4 + 6, 4 * 7)


def test_recurrent_dropout_keep_probability_and_modes():
    rng = np.random.default_rng(2)
    cell = make(LSTMCell, units=64, input_dim=3, use_recurrent_dropout=True,
                recurrent_dropout_prob=0.5, seed=5)
    randomise(cell, rng)
    x = tf.constant(rng.normal(size=(32, 3)), tf.float32)
    zero = cell.get_initial_state(32)
    plain, _ = cell(x, zero, training=False)
    _, (plain_state,) = cell(x, zero, training=False)
    _, (dropped_state,) = cell(x, zero, training=True)
    plain_c, dropped_c = plain_state.numpy()[:, :64], dropped_state.numpy()[:, :64]
    kept = dropped_c != 0
    np.testing.assert_allclose(dropped_c[kept], 2.0 * plain_c[kept], rtol=1e-5)
    assert 0.35 < kept.mean() < 0.65
    _, (second,) = cell(x, zero, training=True)
    assert not np.array_equal(second.numpy(), dropped_state.numpy())
    without = make(LSTMCell, units=64, input_dim=3, recurrent_dropout_prob=0.5)
    without.set_weights(cell.get_weights()[:3])
    np.testing.assert_allclose(without(x, zero, training=True)[0], plain, rtol=1e-6)


@pytest.mark.parametrize("cell_class", CELL_CLASSES)
def test_cell_config_round_trip(cell_class):
    cell = make(cell_class, use_recurrent_dropout=True, recurrent_dropout_prob=0.8)
    config = cell.get_config()
    clone = cell_class.from_config(config)
    assert clone.get_config() == config
    clone.build((None, 3))
    clone.set_weights(cell.get_weights())
    x = tf.ones([2, 3])
    state = cell.get_initial_state(2)
    np.testing.assert_allclose(clone(x, state)[0], cell(x, state)[0], rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(restored) is cell_class


@pytest.mark.parametrize("cell_class", CELL_CLASSES)
def test_run_recurrences_matches_stepwise_calls_with_lengths(cell_class):
    rng = np.random.default_rng(4)
    cell = make(cell_class)
    randomise(cell, rng, scale=0.3)
    inputs = rng.normal(size=(3, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 0], np.int32)
    projected = tf.transpose(cell.project_inputs(tf.constant(inputs)), [1, 0, 2])
    (final,), (outputs,) = run_recurrences(
        [cell], [projected], cell.get_initial_state(3), lengths=tf.constant(lengths),
        return_outputs=True)
    state = np.zeros((3, cell.state_size))
    for step in range(6):
        out, new_state = numpy_step(cell, inputs[:, step].astype(np.float64), state)
        np.testing.assert_allclose(outputs[step].numpy(), out, **TOL)
        state = np.where((step < lengths)[:, None], new_state, state)
    np.testing.assert_allclose(final.numpy(), state, **TOL)


def test_make_cell_rejects_unknown_type():
    with pytest.raises(ValueError, match="unknown cell type"):
        cells_lib.make_cell("gru", 4)


def test_reverse_valid_steps_keeps_padding():
    seq = tf.reshape(tf.range(8, dtype=tf.float32), [2, 4, 1])
    out = reverse_valid_steps(seq, tf.constant([3, 0]))[..., 0].numpy()
    np.testing.assert_array_equal(out, [[2, 1, 0, 3], [4, 5, 6, 7]])


@pytest.mark.parametrize("cell_type,chunk_rows",
                         [("lstm", 2), ("lstm", 256), ("layer_norm", 3), ("hyper", 6)])
def test_stroke_encoder_variable_lengths(cell_type, chunk_rows):
    rng = np.random.default_rng(5)
    encoder = StrokeEncoder(cell_type, units=4, chunk_rows=chunk_rows)
    encoder.build()
    randomise(encoder, rng, scale=0.4)
    strokes = rng.normal(size=(6, 5, 2)).astype(np.float32)
    lengths = np.array([1, 3, 0, 5, 0, 0], np.int32)
    result = encoder(strokes, lengths)
    fw, bw = encoder.forward_cell, encoder.backward_cell
    for row, length in enumerate(lengths):
        state_fw = np.zeros((1, fw.state_size))
        state_bw = np.zeros((1, bw.state_size))
        for step in range(length):
            _, state_fw = numpy_step(fw, strokes[row, step][None].astype(np.float64), state_fw)
            _, state_bw = numpy_step(bw, strokes[row, length - 1 - step][None].astype(np.float64),
                                     state_bw)
        np.testing.assert_allclose(result["enc_last_state_fw"][row], state_fw[0], **TOL)
        np.testing.assert_allclose(result["enc_last_state_bw"][row], state_bw[0], **TOL)
    np.testing.assert_array_equal(result["enc_last_h"].numpy()[[2, 4, 5]], 0.0)
    assert result["enc_last_h"].shape == (6, 8)
    changed = strokes.copy()
    changed[1, 3:] = 99.0
    np.testing.assert_allclose(encoder(changed, lengths)["enc_last_h"], result["enc_last_h"])


def test_stroke_encoder_clamps_lengths_above_l():
    encoder = StrokeEncoder("lstm", units=3)
    strokes = np.random.default_rng(6).normal(size=(2, 4, 2)).astype(np.float32)
    clamped = encoder(strokes, np.array([5, 9], np.int32))["enc_last_h"]
    full = encoder(strokes, np.array([4, 4], np.int32))["enc_last_h"]
    np.testing.assert_allclose(clamped, full)


def test_stroke_encoder_config_round_trip():
    encoder = StrokeEncoder("hyper", units=3, use_recurrent_dropout=True, recurrent_dropout_prob=0.7)
    clone = StrokeEncoder.from_config(encoder.get_config())
    assert clone.get_config() == encoder.get_config()
    assert clone.output_size == 6


def test_chunked_encoder_gradients_match_single_chunk_in_graph_mode():
    rng = np.random.default_rng(7)
    strokes = tf.constant(rng.normal(size=(7, 4, 2)).astype(np.float32))
    lengths = tf.constant([4, 0, 2, 1, 0, 3, 0], tf.int32)
    single = StrokeEncoder("lstm", units=3, chunk_rows=64)
    single.build()
    randomise(single, rng)
    chunked = StrokeEncoder.from_config(dict(single.get_config(), chunk_rows=2))
    chunked.build()
    chunked.set_weights(single.get_weights())

    @tf.function
    def gradients(encoder):
        with tf.GradientTape() as tape:
            out = encoder(strokes, lengths)["enc_last_h"]
            loss = tf.reduce_sum(tf.sin(out))
        return tape.gradient(loss, encoder.trainable_variables)

    for expected, actual in zip(gradients(single), gradients(chunked)):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_hashed_uniform_is_deterministic_and_uniform():
    seed = tf.constant([11, 3], tf.int64)
    draws = hashed_random.hashed_uniform([400, 500], seed).numpy()
    np.testing.assert_array_equal(draws, hashed_random.hashed_uniform([400, 500], seed).numpy())
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < 0.005 and abs(draws.var() - 1 / 12) < 0.002
    assert abs((draws < 0.9).mean() - 0.9) < 0.003
    other = hashed_random.hashed_uniform([400, 500], seed + tf.constant([0, 1], tf.int64)).numpy()
    assert abs(np.corrcoef(draws.ravel(), other.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(draws[:, :-1].ravel(), draws[:, 1:].ravel())[0, 1]) < 0.01


def test_cells_implement_the_recurrent_cell_protocol():
    from sketchgloc_tf2.layers.recurrence import RecurrentCell

    for cell_type in (LSTMCell, LayerNormLSTMCell, HyperLSTMCell):
        assert issubclass(cell_type, RecurrentCell) and cell_type.MATMUL_KERNELS
    with pytest.raises(TypeError, match="abstract"):
        RecurrentCell()
