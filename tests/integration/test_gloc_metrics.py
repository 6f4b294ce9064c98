"""Ret (retrieval) and Rec (Sketch-a-Net recognition) metrics, and the CLI round trip."""

import os
import subprocess
import sys

import numpy as np
import pytest

from sketch_common import render
from sketch_common.raw_sketches import pad_batch
from flags import gloc_recognition
from sketchgloc_tf2 import recognition
from sketchgloc_tf2.data.batching import BatchBuilder, BatchSizes, noise_draws_needed
from sketchgloc_tf2.data.graph_batching import encoder_batch
from sketchgloc_tf2.data.pipeline import batch_sizes
from sketchgloc_tf2.data.quickdraw import load_data
from sketchgloc_tf2.errors import SketchConfigError
from sketchgloc_tf2.retrieval import (
    NORMALISED,
    encode_generated,
    evaluate_sample_folder,
    source_ranks,
    squared_distances,
    top_k_accuracy,
)
from sketchgloc_tf2.convert import load_sampling_model
from sketchgloc_tf2.sample_folder import encode_mu
from sketchgloc_tf2.strokes import absolute_to_offsets
from helpers.paths import REPO_ROOT

ROOT = str(REPO_ROOT)


def upstream_ranks(real, fake, depth=50):
    """Upstream's literal retrieval loop (repeated argmin with 1e10 masking) for one block."""
    distances = np.average((real[:, None, :] - fake[None, :, :]) ** 2, axis=2)
    order = []
    for _ in range(min(depth, len(real))):
        index = np.argmin(distances, axis=0)
        distances[index, np.arange(len(fake))] = 1e10
        order.append(index)
    order = np.stack(order)
    hits = order == np.arange(len(fake))[None, :]
    return np.where(hits.any(axis=0), hits.argmax(axis=0), depth)


def test_ret_on_a_known_tiny_case():
    real = np.array([[0, 0], [1, 0], [0, 2], [5, 5]], np.float32)
    fake = np.array([[0.1, 0], [0, 0], [0, 1.9], [1, 0]], np.float32)
    ranks, nearest = source_ranks(real, fake)
    np.testing.assert_array_equal(ranks, [0, 1, 0, 3])
    np.testing.assert_array_equal(nearest, [0, 0, 2, 1])
    assert top_k_accuracy(ranks, (1, 2, 10)) == {1: 0.5, 2: 0.75, 10: 1.0}


def test_ret_ties_go_to_the_lower_gallery_index():
    real = np.zeros((3, 2), np.float32)
    ranks, _ = source_ranks(real, np.zeros((3, 2), np.float32))
    np.testing.assert_array_equal(ranks, [0, 1, 2])


def test_ret_ranks_match_upstream_loop_and_chunking():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 5)).astype(np.float32)
    fake = (real + rng.normal(scale=0.8, size=real.shape)).astype(np.float32)
    ranks, _ = source_ranks(real, fake, chunk=7)
    np.testing.assert_array_equal(np.minimum(ranks, 50), upstream_ranks(real, fake))
    np.testing.assert_allclose(
        squared_distances(real, fake[:3]),
        np.mean((fake[:3, None].astype(np.float64) - real[None]) ** 2, axis=2), rtol=1e-9)


@pytest.fixture(scope="module")
def bundle_model(gloc_bundle):
    return load_sampling_model(os.path.join(gloc_bundle, "ckpt"))


def test_empty_and_unfinished_generated_sketches_are_encoded(bundle_model):
    model, hparams = bundle_model
    sketches = [np.zeros((0, 3)), np.array([[0.1, 0.2, 0.0], [0.3, 0.1, 0.0]]),
                np.array([[0.1, 0.2, 0.0], [0.3, 0.1, 1.0], [0.5, 0.5, 1.0]])]
    codes = encode_generated(model, hparams, sketches, batch_size=2)
    assert codes.shape == (3, hparams.z_size) and np.all(np.isfinite(codes))
    # No closed stroke = empty node set: same code as the empty sketch (docs/differences.md#sg-b9).
    np.testing.assert_allclose(codes[0], codes[1])
    assert not np.allclose(codes[0], codes[2])
    # A batch of only empty sketches works too.
    assert encode_generated(model, hparams, [np.zeros((0, 3))]).shape == (1, hparams.z_size)


def test_generated_sketches_use_the_clean_training_batch(bundle_model):
    model, hparams = bundle_model
    rng = np.random.RandomState(3)
    sketches = []
    for count in (1, 9, 30, 4):
        sketch = np.cumsum(rng.uniform(-0.5, 0.5, (count, 3)), axis=0)
        sketch[:, 2] = rng.rand(count) < 0.3
        sketch[-1, 2] = 1
        sketches.append(sketch)
    codes = encode_generated(model, hparams, sketches, batch_size=3)
    offsets = [absolute_to_offsets(s).astype(np.float32) for s in sketches]
    builder = BatchBuilder(BatchSizes(max(len(s) for s in offsets), hparams.max_stroke_len,
                                      hparams.max_strokes_num, hparams.clip_node_length))
    batch = builder.build(offsets, np.zeros(len(offsets)), 0.0,
                          [np.zeros(noise_draws_needed(s)) for s in offsets])
    np.testing.assert_allclose(codes, encode_mu(model, batch), rtol=1e-5, atol=1e-6)
    strokes, lengths = pad_batch(offsets)
    graph_batch = encoder_batch(strokes, lengths, NORMALISED, batch_sizes(hparams))
    for key, value in graph_batch.items():  # the encoder inputs are bit-identical
        np.testing.assert_array_equal(value.numpy(), batch[key], err_msg=key)


def test_offbyone_translates_by_minus_the_last_movement(bundle_model):
    model, hparams = bundle_model
    sketch = np.array([[0.5, 0.2, 0.0], [0.9, 0.4, 0.0], [1.0, 1.0, 1.0], [1.5, 0.5, 0.0],
                       [1.2, 0.1, 1.0]])
    translated = sketch.copy()
    translated[:, :2] -= sketch[-1, :2] - sketch[-2, :2]
    shifted = encode_generated(model, hparams, [sketch], offbyone=True)
    np.testing.assert_allclose(shifted, encode_generated(model, hparams, [translated]),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(shifted, encode_generated(model, hparams, [sketch]))


def _run(args):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True,
                               text=True, env=environment, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


@pytest.mark.slow
def test_sample_abs_then_retrieval_command_lines(gloc_bundle, tmp_path):
    checkpoint = os.path.join(gloc_bundle, "ckpt")
    data_dir = os.path.join(gloc_bundle, "data")
    out = tmp_path / "samples"
    stdout = _run(["sample_abs.py", "3", "0", str(out), "0.3", checkpoint,
                   f"--data_dir={data_dir}", "--batch_size=4", "--seed=1"])
    assert "face: 3 sketches" in stdout and "house: 3 sketches" in stdout
    assert sorted(os.listdir(out / "house")) == ["1_0.png", "1_1.png", "1_2.png"]
    stdout = _run(["retrieval.py", str(out), checkpoint, f"--data_dir={data_dir}"])
    lines = stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Top 1 Ret", "Top 10 Ret", "Top 50 Ret"]
    values = [float(line.split(":")[1]) for line in lines]
    model, hparams = load_sampling_model(checkpoint)
    fixed = evaluate_sample_folder(model, hparams, str(out))
    assert values == [fixed.top_k[k] for k in (1, 10, 50)]
    assert values[2] == 1.0 and fixed.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_sketch_a_net_layer_table():
    model = recognition.sketch_a_net(5, image_size=225)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["L1"] == (71, 71, 64) and shapes["pool1"] == (35, 35, 64)
    assert shapes["L2"] == (31, 31, 128) and shapes["pool2"] == (15, 15, 128)
    assert shapes["L5"] == (15, 15, 256) and shapes["pool5"] == (7, 7, 256)
    assert model.get_layer("L6").kernel_size == (7, 7)
    assert shapes["L6"] == (1, 1, 512) and shapes["logits"] == (5,)
    small = recognition.sketch_a_net(5, image_size=96)
    assert small.get_layer("L1").kernel_size == (15, 15) and small.get_layer("L6").kernel_size == (1, 1)
    with pytest.raises(SketchConfigError):
        recognition.sketch_a_net(5, image_size=64)


def _render_folder(folder, split, categories, color_by_category=False):
    """A sample_abs-like folder made of real drawings rendered by the shared rasteriser."""
    for label, name in enumerate(categories):
        os.makedirs(folder / name, exist_ok=True)
        color = ("black", "red", "blue")[label] if color_by_category else "black"
        for index in np.flatnonzero(split.labels == label):
            image = render.to_image(render.rasterize(split.strokes[index]), color)
            render.save_png(image, str(folder / name / f"{label}_{index}.png"))


@pytest.mark.slow
@pytest.mark.realdata
def test_rec_training_on_real_categories_beats_chance(quickdraw_dir, tmp_path, capsys):
    categories = ["bee", "bus", "flower"]
    model_dir = tmp_path / "rec"
    assert gloc_recognition.main(["train", "--data_dir", str(quickdraw_dir), "--categories",
                             ",".join(categories), "--output", str(model_dir), "--epochs", "3",
                             "--image_size", "96"]) == 0
    model, config = recognition.load_recognizer(str(model_dir))
    assert config["categories"] == categories and config["valid_accuracy"] > 0.6
    test = load_data(str(quickdraw_dir), categories, 70000)["test"]
    for colored in (False, True):
        folder = tmp_path / f"samples_{colored}"
        _render_folder(folder, test, categories, colored)
        capsys.readouterr()
        assert gloc_recognition.main(["eval", str(folder), "--model", str(model_dir)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("Rec: ") and float(lines[0].split()[1]) > 0.6
        assert [line.split(":")[0].strip() for line in lines[1:]] == categories
    result = recognition.evaluate_folder(model, config, str(tmp_path / "samples_False"))
    assert result["count"] == len(test) and result["confusion"].sum() == len(test)
