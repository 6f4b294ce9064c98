"""SketchGloc sampler: greedy parity, seeded reproducibility, per-sketch stopping, sample folders."""

import os

import numpy as np
import pytest
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.data.pipeline import prepare_data
from sketchgloc_tf2.model import SketchGlocModel
from sketchgloc_tf2.parity import sample as sample_parity
from sketch_common.parity_report import ParityReport
from sketchgloc_tf2.decoding import (
    END_TOKEN,
    choose_points,
    decode_steps,
    start_points,
    step_draws,
)
from sketchgloc_tf2.convert import load_sampling_model
from sketchgloc_tf2.sample_folder import SampleFolderOptions, generate_sample_folder
from sketchgloc_tf2.sampling import Sampler
from sketchgloc_tf2.strokes import absolute_to_offsets, to_stroke3


def tiny_model(seed=0, **changes):
    values = dict(enc_rnn_size=4, dec_rnn_size=8, z_size=3, enc_model="lstm", dec_model="lstm",
                  use_recurrent_dropout=False, num_mixture_components=3, seed=seed)
    values.update(changes)
    tf.keras.utils.set_random_seed(seed)
    return SketchGlocModel.from_hparams(hparams_lib.HParams(**values))


@pytest.fixture(scope="module")
def bundle_model(gloc_bundle):
    return load_sampling_model(os.path.join(gloc_bundle, "ckpt"))


def test_greedy_decoding_matches_reference_step_by_step(gloc_bundle):
    report = ParityReport()
    sample_parity.check(str(gloc_bundle), report)
    failed = [row.name for row in report.rows if row.compared and not row.ok]
    assert not failed
    reference = np.load(os.path.join(gloc_bundle, "sample_greedy.npz"))
    inputs = [key for key in reference.files if key.rsplit("/", 1)[-1] in sample_parity.INPUT_ARRAYS]
    assert report.num_compared == len(reference.files) - len(inputs)
    assert report.exit_code() == 0


def test_parity_reports_a_missing_sample_file(tmp_path):
    report = ParityReport()
    sample_parity.check(str(tmp_path), report)
    assert report.num_compared == 0 and report.rows[0].reason


@pytest.mark.parametrize("cell", ["lstm", "layer_norm", "hyper"])
def test_compiled_step_equals_the_model_decoder_step(cell):
    model = tiny_model(dec_model=cell)
    z = np.random.default_rng(3).normal(size=(2, 3)).astype(np.float32)
    result = Sampler(model, 5, greedy=True, stop_at_end=False)(z, record_steps=True)
    state = model.initial_state(z)
    np.testing.assert_allclose(result.initial_state, state, atol=1e-6)
    for step in range(5):
        np.testing.assert_allclose(result.steps["input_x"][step],
                                   result.strokes_5d[:, step - 1] if step else
                                   np.tile([0, 0, 1, 0, 0], (2, 1)))
        mixture, state = model.decoder_step(result.steps["input_x"][step], z, state)
        for name in ("pi", "mux", "sigmay", "corr", "pen"):
            np.testing.assert_allclose(result.steps[name][step], mixture[name], rtol=1e-4,
                                       atol=1e-5)
        np.testing.assert_allclose(result.steps["state_out"][step], state, rtol=1e-4, atol=1e-5)


def test_seeded_sampling_is_reproducible():
    model = tiny_model()
    sampler = Sampler(model, max_seq_len=12)
    z = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    first, again, other = sampler(z, seed=7), sampler(z, seed=7), sampler(z, seed=8)
    np.testing.assert_array_equal(first.strokes_5d, again.strokes_5d)
    np.testing.assert_array_equal(first.lengths, again.lengths)
    assert not np.array_equal(first.strokes_5d, other.strokes_5d)


def test_each_sketch_stops_at_its_end_token(bundle_model):
    model, hparams = bundle_model
    z = np.random.default_rng(1).normal(size=(12, hparams.z_size)).astype(np.float32)
    steps = hparams.max_seq_len
    stopped = Sampler(model, steps, temperature=1.0, stop_at_end=True)(z, seed=3)
    running = Sampler(model, steps, temperature=1.0, stop_at_end=False)(z, seed=3)
    assert len(set(stopped.lengths.tolist())) > 1, "need sketches of different lengths"
    for b in range(len(z)):
        ends = np.flatnonzero(running.strokes_5d[b, :, 4] > 0)
        length = int(ends[0]) if ends.size else steps
        assert stopped.lengths[b] == length
        np.testing.assert_array_equal(stopped.strokes_5d[b, :length + 1],
                                      running.strokes_5d[b, :length + 1])
        assert length == steps or stopped.strokes_5d[b, length, 4] == 1
        np.testing.assert_array_equal(stopped.strokes_5d[b, length + 1:],
                                      np.tile(END_TOKEN, (max(steps - length - 1, 0), 1)))
        assert stopped.stroke3(b).shape == (length, 3)


def _fixed_mixture(batch, pi, rho, sigma):
    ones = tf.ones([batch, len(pi)])
    return {
        "pi": ones * pi, "mux": ones * [0.0, 50.0, -50.0], "muy": ones * [1.0, 2.0, 3.0],
        "sigmax": ones * sigma, "sigmay": ones * sigma, "corr": ones * rho,
        "pen": tf.ones([batch, 3]) * [0.5, 0.3, 0.2],
        "pen_logits": tf.math.log(tf.ones([batch, 3]) * [0.5, 0.3, 0.2]),
    }


def test_choose_points_follows_upstream_distribution():
    batch, tau, sigma, rho = 40000, 0.5, 2.0, 0.6
    pi = np.array([0.5, 0.3, 0.2], np.float32)
    mixture = _fixed_mixture(batch, pi, rho, sigma)
    rng = np.random.default_rng(0)
    uniforms = tf.constant(rng.random((batch, 2)), tf.float32)
    normals = tf.constant(rng.normal(size=(batch, 2)), tf.float32)
    points = choose_points(mixture, tau, uniforms, normals, greedy=False).numpy()
    tempered = pi ** (1 / tau) / np.sum(pi ** (1 / tau))
    component = np.select([points[:, 0] < -25, points[:, 0] > 25], [2, 1], 0)
    np.testing.assert_allclose(np.bincount(component, minlength=3) / batch, tempered, atol=0.01)
    first = points[component == 0]
    # Quirk docs/differences.md#sg-q9: the standard deviation is sigma * tau (covariance scaled by
    # tau^2).
    np.testing.assert_allclose(first[:, :2].std(axis=0), [sigma * tau] * 2, rtol=0.03)
    np.testing.assert_allclose(np.corrcoef(first[:, 0], first[:, 1])[0, 1], rho, atol=0.03)
    pen = points[:, 2:].argmax(axis=1)
    pen_tempered = np.array([0.5, 0.3, 0.2]) ** (1 / tau)
    np.testing.assert_allclose(np.bincount(pen, minlength=3) / batch,
                               pen_tempered / pen_tempered.sum(), atol=0.01)


def test_greedy_choice_is_the_argmax_mean():
    mixture = _fixed_mixture(2, np.array([0.2, 0.5, 0.3], np.float32), 0.3, 1.0)
    points = choose_points(mixture, 0.24, tf.zeros([2, 2]), tf.ones([2, 2]), greedy=True)
    np.testing.assert_allclose(points.numpy(), [[50.0, 2.0, 1, 0, 0]] * 2)


def test_stroke_format_conversions():
    strokes_5d = np.array([[1, 2, 1, 0, 0], [3, 4, 0, 1, 0], [5, 5, 0, 0, 1], [9, 9, 1, 0, 0]],
                          np.float32)
    np.testing.assert_array_equal(to_stroke3(strokes_5d), [[1, 2, 0], [3, 4, 1]])
    assert to_stroke3(np.tile(END_TOKEN, (3, 1))).shape == (0, 3)
    np.testing.assert_array_equal(to_stroke3(strokes_5d[:2]), [[1, 2, 0], [3, 4, 1]])
    absolute = np.array([[1.0, 1.0, 0], [2.0, 3.0, 0], [4.0, 4.0, 1]])
    np.testing.assert_array_equal(absolute_to_offsets(absolute),
                                  [[1, 1, 0], [1, 2, 0], [2, 1, 1]])
    # docs/differences.md#sg-b7 (upstream retrieval): row 0 also loses the last movement (2, 1).
    np.testing.assert_array_equal(absolute_to_offsets(absolute, offbyone=True),
                                  [[-1, 0, 0], [1, 2, 0], [2, 1, 1]])
    np.testing.assert_array_equal(absolute_to_offsets(absolute[:1], offbyone=True), [[0, 0, 0]])
    assert absolute_to_offsets(np.zeros((0, 3)), offbyone=True).shape == (0, 3)


def test_sample_many_refills_finished_slots(bundle_model):
    model, hparams = bundle_model
    z = np.random.default_rng(2).normal(size=(7, hparams.z_size)).astype(np.float32)
    greedy = Sampler(model, hparams.max_seq_len, greedy=True)
    many = greedy.sample_many(z, batch_size=3, steps_per_call=4)
    single = greedy(z)
    assert len(many) == 7
    for index, sketch in enumerate(many):
        np.testing.assert_allclose(sketch, single.stroke3(index), atol=1e-5)
    sampler = Sampler(model, hparams.max_seq_len, temperature=1.0)
    first = sampler.sample_many(z, batch_size=3, seed=4, steps_per_call=5)
    again = sampler.sample_many(z, batch_size=3, seed=4, steps_per_call=5)
    other = sampler.sample_many(z, batch_size=3, seed=5, steps_per_call=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))
    assert len({len(sketch) for sketch in first}) > 1
    assert all(len(sketch) <= hparams.max_seq_len for sketch in first)
    assert sampler.sample_many(z[:0]) == []
    # Without stopping at the end token every sketch uses all T steps, across calls.
    full = Sampler(model, 9, stop_at_end=False).sample_many(z, batch_size=3, steps_per_call=4)
    assert [len(sketch) for sketch in full] == [9] * 7


def _folder_files(path):
    return sorted(os.listdir(path))


def test_sample_folder_layout_and_formats(gloc_bundle, bundle_model, tmp_path):
    model, hparams = bundle_model
    data = prepare_data(os.path.join(gloc_bundle, "data"), hparams, keep_sizes=True)
    options = SampleFolderOptions(sample_size=3, re_scale=0.3, seed=5, batch_size=4)
    written = generate_sample_folder(model, data.hparams, data.test, str(tmp_path), options)
    assert written == {"face": 3, "house": 3}
    for name in ("face", "house"):
        assert _folder_files(tmp_path / name) == [f"{c}_{i}.png" for c in
                                                  [hparams.categories.index(name)]
                                                  for i in range(3)]
    code = np.load(tmp_path / "code_1_2.npy")
    assert code.shape == (1, hparams.z_size) and code.dtype == np.float32
    sketch = np.load(tmp_path / "s_1_2.npy")
    assert sketch.ndim == 3 and sketch.shape[0] == 1 and sketch.shape[2] == 3
    assert sketch.dtype == np.float64 and sketch.shape[1] <= data.hparams.max_seq_len
    assert (tmp_path / "0_0.svg").read_text().startswith("<?xml")
    # Same seed -> same folder content.
    again = tmp_path / "again"
    generate_sample_folder(model, data.hparams, data.test, str(again), options)
    np.testing.assert_array_equal(np.load(again / "s_1_2.npy"), sketch)
    np.testing.assert_array_equal(np.load(again / "code_0_1.npy"), np.load(tmp_path / "code_0_1.npy"))


def test_one_seed_gives_the_same_sketches_through_every_method():
    model = tiny_model(dec_model="layer_norm")
    z = np.random.default_rng(4).normal(size=(5, 3)).astype(np.float32)
    sampler = Sampler(model, 12, temperature=0.8)
    single = sampler(z, seed=9)
    for steps_per_call in (4, 12):
        many = sampler.sample_many(z, batch_size=5, seed=9, steps_per_call=steps_per_call)
        for index, sketch in enumerate(many):
            np.testing.assert_array_equal(sketch, single.stroke3(index))
    eager = Sampler(model, 12, temperature=0.8, jit_compile=False)(z, seed=9)
    np.testing.assert_array_equal(eager.lengths, single.lengths)
    np.testing.assert_allclose(eager.strokes_5d, single.strokes_5d, atol=1e-4)
    greedy = Sampler(model, 12, greedy=True)
    np.testing.assert_array_equal(greedy(z, seed=1).strokes_5d, greedy(z, seed=2).strokes_5d)


def test_draws_depend_only_on_seed_sketch_and_step():
    seed = tf.constant([3, 0], tf.int64)
    uniforms, normals = step_draws(seed, tf.constant([0, 5, 7]), tf.constant([2, 3, 3]))
    alone = step_draws(seed, tf.constant([5]), tf.constant([3]))
    np.testing.assert_array_equal(uniforms[1:2], alone[0])
    np.testing.assert_array_equal(normals[1:2], alone[1])
    assert not np.array_equal(uniforms[1], uniforms[2])
    many_u, many_n = step_draws(seed, tf.range(20000), tf.zeros([20000], tf.int32))
    assert 0.0 <= float(tf.reduce_min(many_u)) and float(tf.reduce_max(many_u)) < 1.0
    np.testing.assert_allclose(np.mean(many_u.numpy(), axis=0), 0.5, atol=0.01)
    np.testing.assert_allclose(np.std(many_n.numpy(), axis=0), 1.0, atol=0.02)


def test_decode_steps_continues_from_a_state_and_point():
    decoder = tiny_model().decoder
    z = tf.constant(np.random.default_rng(6).normal(size=(3, 3)), tf.float32)
    step = decoder.step_function(z)
    seed, ids = tf.constant([1, 2], tf.int64), tf.range(3)
    options = dict(limit=10, temperature=0.6, greedy=False)
    full = decode_steps(step, decoder.initial_state(z), start_points(3), seed, ids,
                        num_steps=10, **options)
    first = decode_steps(step, decoder.initial_state(z), start_points(3), seed, ids,
                         num_steps=4, **options)
    rest = decode_steps(step, first["state"], first["point"], seed, ids, first["steps_done"],
                        first["done"], num_steps=6, **options)
    np.testing.assert_allclose(tf.concat([first["rows"], rest["rows"]], axis=1), full["rows"],
                               atol=1e-6)
    np.testing.assert_array_equal(rest["steps_done"], full["steps_done"])
