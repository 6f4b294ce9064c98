"""The fused-gradient time loop against plain autodiff of the same loop (layers/recurrence.py)."""

import numpy as np
import pytest
import tensorflow as tf

from sketchgloc_tf2.layers.cells import HyperLSTMCell, LayerNormLSTMCell, LSTMCell
from sketchgloc_tf2.layers.recurrence import run_recurrences
from helpers.gloc_models import make, randomise

BATCH, STEPS, INPUT_DIM = 4, 6, 3


def loss_and_gradients(cells, inputs, fused, jit, lengths, dropout, return_outputs, active,
                       in_loop_projection=False, input_gradients=True):
    variables = [v for cell in cells for v in cell.trainable_variables]

    @tf.function(jit_compile=jit, autograph=False)
    def run(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            params = [cell.parameters() for cell in cells]
            offsets = [tf.fill([BATCH, cell.project_inputs(inputs[:, 0], p).shape[-1]], 0.05)
                       for cell, p in zip(cells, params)]
            projections = None
            if in_loop_projection:
                sequences = [tf.transpose(inputs, [1, 0, 2])] * len(cells)
                projections = []
                for cell, p, offset in zip(cells, params, offsets):
                    kernel, bias = cell.input_projection(p)
                    projections.append((kernel, offset if bias is None else offset + bias))
            else:
                sequences = [tf.transpose(cell.project_inputs(inputs, p), [1, 0, 2]) + offset
                             for cell, p, offset in zip(cells, params, offsets)]
            initial = [tf.fill([BATCH, cell.state_size], 0.1) for cell in cells]
            seeds = ([tf.constant([3, 4], tf.int64), tf.constant([5, 6], tf.int64)]
                     if dropout else None)
            finals, outputs = run_recurrences(
                cells, sequences, initial, lengths=lengths, dropout_seeds=seeds,
                return_outputs=return_outputs, active_steps=active, params=params,
                fused_gradient=fused, input_projections=projections,
                input_gradients=input_gradients)
            loss = (sum(tf.reduce_sum(tf.sin(1.3 * state)) for state in finals)
                    + sum(tf.reduce_sum(tf.square(output)) for output in outputs))
        gradients = tape.gradient(loss, [inputs, *variables])
        if gradients[0] is None:
            gradients[0] = tf.zeros_like(inputs)
        return [loss, *finals, *outputs, *gradients]

    return [value.numpy() for value in run(inputs)]


@pytest.mark.parametrize("cell_class", [LSTMCell, LayerNormLSTMCell, HyperLSTMCell])
@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("mode", ["lengths_dropout_active_steps", "outputs_dropout",
                                  "outputs_lengths", "outputs_dropout_in_loop_projection"])
def test_fused_gradient_matches_autodiff(cell_class, jit, mode):
    rng = np.random.default_rng(11)
    dropout = "dropout" in mode
    cells = [make(cell_class, input_dim=INPUT_DIM, use_recurrent_dropout=dropout,
                  recurrent_dropout_prob=0.7) for _ in range(2)]
    for cell in cells:
        randomise(cell, rng, scale=0.4)
    inputs = tf.constant(rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype(np.float32))
    options = dict(
        jit=jit, dropout=dropout,
        lengths=tf.constant([6, 2, 0, 3]) if "lengths" in mode else None,
        return_outputs="outputs" in mode,
        active=tf.constant(3) if "active_steps" in mode else None,
        in_loop_projection="in_loop_projection" in mode)
    plain = loss_and_gradients(cells, inputs, fused=False, **options)
    fused = loss_and_gradients(cells, inputs, fused=True, **options)
    assert len(plain) == len(fused)
    for expected, actual in zip(plain, fused):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-6)
    if options["in_loop_projection"]:
        projected_outside = loss_and_gradients(
            cells, inputs, fused=False, **dict(options, in_loop_projection=False))
        for expected, actual in zip(projected_outside, fused):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("cell_class", [LSTMCell, LayerNormLSTMCell, HyperLSTMCell])
def test_data_inputs_get_no_gradient_and_the_rest_is_unchanged(cell_class):
    rng = np.random.default_rng(12)
    cells = [make(cell_class, input_dim=INPUT_DIM, use_recurrent_dropout=True,
                  recurrent_dropout_prob=0.7) for _ in range(2)]
    for cell in cells:
        randomise(cell, rng, scale=0.4)
    inputs = tf.constant(rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype(np.float32))
    options = dict(jit=True, dropout=True, lengths=tf.constant([6, 2, 0, 3]),
                   return_outputs=True, active=None, in_loop_projection=True)
    plain = loss_and_gradients(cells, inputs, fused=False, **options)
    data_inputs = loss_and_gradients(cells, inputs, fused=True, input_gradients=False,
                                     **options)
    input_gradient_index = 1 + 2 * len(cells)
    np.testing.assert_array_equal(data_inputs[input_gradient_index], 0.0)
    assert np.abs(plain[input_gradient_index]).max() > 0
    for index, (expected, actual) in enumerate(zip(plain, data_inputs)):
        if index != input_gradient_index:
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-6)
