"""The `SketchGloc` task: raw stroke-3 sketches in, latents and raw sketches out."""

import numpy as np
import pytest
import tensorflow as tf

from helpers.raw_sketches import random_sketches
from sketch_common.presets import PresetError, read_metadata
from sketchgloc_tf2 import SketchDataError, SketchGloc
from sketchgloc_tf2.data import pipeline
from sketchgloc_tf2.hparams import HParams
from sketchgloc_tf2.model import BATCH_KEYS, SketchGlocModel
from sketchgloc_tf2.strokes import reorganise

SIZES = dict(max_seq_len=40, max_stroke_len=8, max_strokes_num=6, normalizing_scale_factor=20.0)


@pytest.fixture(scope="module")
def task_config():
    return dict(categories=["circle", "star"], enc_rnn_size=8, dec_rnn_size=16,
                dec_model="hyper", z_size=4, num_mixture_components=3,
                use_recurrent_dropout=False, **SIZES)


@pytest.fixture(scope="module")
def task(task_config):
    hparams = HParams(**task_config)
    return SketchGloc(SketchGlocModel.from_hparams(hparams), hparams)


@pytest.fixture(scope="module")
def sketches():
    return random_sketches((12, 20, 7), spread=15)


def _is_stroke3(sketch):
    return sketch.dtype == np.float32 and sketch.ndim == 2 and sketch.shape[1] == 3


def test_encode_matches_the_backbone_on_its_own_batch(task, sketches):
    mu, logvar = task.encode(sketches)
    assert mu.shape == logvar.shape == (3, 4) and mu.dtype == np.float32
    alone, _ = task.encode(sketches[1:2])
    np.testing.assert_allclose(alone[0], mu[1], rtol=1e-5, atol=1e-6)


def test_sample_is_seeded_and_greedy_ignores_the_seed(task):
    z = np.random.RandomState(1).standard_normal((2, 4)).astype(np.float32)
    first = task.sample(z, temperature=0.5, seed=3)
    again = task.sample(z, temperature=0.5, seed=3)
    assert all(_is_stroke3(s) and len(s) <= 40 for s in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    greedy = [task.sample(z, temperature=0.0, seed=seed) for seed in (1, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(*greedy))


def test_reconstruct_complete_and_interpolate_return_raw_sketches(task, sketches):
    out = task.reconstruct(sketches, temperature=0.0, seed=0, re_scale=0.3)
    assert len(out) == 3 and all(_is_stroke3(s) for s in out)
    completed = task.complete([s[:5] for s in sketches], temperature=0.3, seed=1)
    for sketch, result in zip(sketches, completed):
        np.testing.assert_array_equal(result[:5], sketch[:5])
        assert _is_stroke3(result) and len(result) <= 40
    strip = task.interpolate(sketches[0], sketches[1], steps=5)
    assert len(strip) == 5 and all(_is_stroke3(s) for s in strip)


def test_preset_round_trip_gives_identical_outputs(task, sketches, tmp_path):
    task.save_to_preset(str(tmp_path / "preset"), {"description": "tiny"})
    restored = SketchGloc.from_preset(str(tmp_path / "preset"))
    np.testing.assert_array_equal(restored.encode(sketches)[0], task.encode(sketches)[0])
    z = restored.encode(sketches)[0]
    assert all(np.array_equal(a, b) for a, b in zip(restored.sample(z, seed=4),
                                                    task.sample(z, seed=4)))
    assert read_metadata(str(tmp_path / "preset")) == {"description": "tiny"}
    with pytest.raises(PresetError, match="neither a registered preset"):
        SketchGloc.from_preset(str(tmp_path / "missing"))


def test_reorganise_moves_strokes_rigidly():
    sketch = np.array([[1, 1, 0], [2, 0, 1], [5, 5, 0], [1, 1, 1]], np.float32)
    moved = reorganise(sketch, 0.5, np.random.RandomState(0))
    np.testing.assert_array_equal(moved[:2], sketch[:2])
    np.testing.assert_allclose(moved[3], sketch[3], atol=1e-5)
    assert not np.allclose(moved[2], sketch[2])
    np.testing.assert_array_equal(reorganise(sketch, 0.0, np.random.RandomState(0)), sketch)


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"),
    ([np.zeros((3, 2))], r"sketch 0: expected shape \[n, 3\]"),
    ([np.zeros((3, 3)), np.full((2, 3), np.nan)], "sketch 1: holds NaN"),
    ([np.array([[0, 0, 2]])], "sketch 0: pen_lift"),
    ([np.zeros((41, 3))], "sketch 0: 41 points, more than the model's maximum of 40"),
    ([np.zeros((0, 3))], "sketch 0: has no points"),
    (np.zeros((4, 3)), "wrap a single sketch in a list"),
])
def test_bad_sketches_name_the_sketch(task, bad, message):
    with pytest.raises(SketchDataError, match=message):
        task.encode(bad)


def test_complete_refuses_a_partial_sketch_at_the_maximum(task):
    with pytest.raises(SketchDataError, match="partial sketch 0: 40 points"):
        task.complete([np.zeros((40, 3), np.float32)])


def _drawings(count, seed):
    rng = np.random.RandomState(seed)
    drawn = []
    for _ in range(count):
        points = rng.randint(6, 16)
        sketch = np.zeros((points, 3), np.float32)
        sketch[:, 0] = np.round(10 * np.cos(np.linspace(0, 6, points)))
        sketch[:, 1] = np.round(10 * np.sin(np.linspace(0, 6, points)))
        sketch[points // 2, 2] = sketch[-1, 2] = 1
        drawn.append(sketch)
    return drawn


def test_fit_lowers_the_loss_and_evaluates(task_config):
    hparams = HParams(**task_config)
    task = SketchGloc(SketchGlocModel.from_hparams(hparams), hparams)
    dataset = task.training_dataset(_drawings(40, 0), batch_size=8, re_scale=0.1, seed=1)
    task.compile(optimizer="auto")
    first = task.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    task.fit(dataset, epochs=3, verbose=0)
    assert task.evaluate(dataset, verbose=0, return_dict=True)["loss"] < first


def test_fit_runs_train_py_s_step(task_config, tmp_path):
    """The same weights, batch and noise give the same loss through fit's step and train.py's."""
    from sketchgloc_tf2 import training
    from sketchgloc_tf2.data import synthetic

    data_dir = str(tmp_path / "data")
    synthetic.write_dataset(data_dir, per_category=50, seed=0)
    hparams = HParams(**{**task_config, "max_seq_len": -1, "max_stroke_len": -1,
                         "max_strokes_num": -1, "normalizing_scale_factor": -1.0,
                         "batch_size": 8})
    trainer = training.start_run(data_dir, str(tmp_path / "run"), hparams, save_state_steps=0,
                                 verbose=False, on_best=())
    batch = next(iter(pipeline.eval_dataset(trainer.valid_batcher, 8)))
    batch = {key: batch[key] for key in BATCH_KEYS}
    task = SketchGloc(trainer.model, trainer.prepared.hparams)
    task.compile(optimizer=trainer.optimizer)
    weights = [variable.numpy() for variable in trainer.model.weights]
    noise_state = trainer.model.seed_generator.state.numpy()
    cli_loss = float(trainer.train_step(batch))
    for variable, value in zip(trainer.model.weights, weights):
        variable.assign(value)
    trainer.model.seed_generator.state.assign(noise_state)
    fit_step = tf.function(task.train_step, jit_compile=True, autograph=False)
    assert float(fit_step(batch)["loss"]) == pytest.approx(cli_loss, rel=1e-5)
