"""Rendering (rasteriser, SVG, PNG I/O) and the pictures (grid, interpolation, training curves)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from flags import gloc_pictures
from sketch_common import render
from sketch_common.errors import run_tool
from sketchgloc_tf2 import pictures
from sketchgloc_tf2.data.pipeline import SketchBatcher, prepare_data
from sketchgloc_tf2.convert import load_sampling_model
from sketchgloc_tf2.sampling import Sampler



def tool_status(argv):
    """Exit status of `python -m sketchgloc_tf2.pictures ARGV`, run in process."""
    with pytest.raises(SystemExit) as exit_request:
        run_tool(lambda: gloc_pictures.main(argv))
    return exit_request.value.code

def test_rasterize_follows_the_upstream_canvas_geometry():
    # Origin-inclusive box [0, 10] x [0, 10]: scale 4.5 px per unit, margin 1.5 px.
    offsets = np.array([[0, 5, 1], [10, 0, 0], [0, 5, 1]], np.float32)
    scale, origin_x, origin_y = render.canvas_transform(offsets)
    assert (scale, origin_x, origin_y) == (4.5, 1.5, 1.5)
    ink = render.rasterize(offsets)
    assert ink.shape == (48, 48) and ink.dtype == np.float32
    # A vertical line at x = 46.5 px (pixel column 46 fully covered), y from 24 to 46.5 px.
    np.testing.assert_allclose(ink[30:45, 46], 1.0)
    np.testing.assert_allclose(ink[30:45, 45], 0.0)
    # The first row and a pen lift only move: nothing drawn on the way from the origin.
    assert ink[5:20, 1:3].max() == 0.0
    np.testing.assert_allclose(ink.sum(), 22.5, atol=1.0)


def brute_force_rasterize(offsets, width=48, line_width=1.0):
    """Coverage of every pixel against every segment (the definition)."""
    segments = render.pixel_segments(offsets, width)
    centres = np.arange(width) + 0.5
    grid = np.stack(np.meshgrid(centres, centres), axis=-1).reshape(-1, 2)
    distance = np.full(len(grid), np.inf)
    for start, end in segments:
        direction = end - start
        along = np.clip((grid - start) @ direction / (direction @ direction), 0.0, 1.0)
        nearest = grid - start - along[:, None] * direction
        distance = np.minimum(distance, np.linalg.norm(nearest, axis=1))
    return np.clip(line_width / 2 + 0.5 - distance, 0.0, 1.0).reshape(width, width)


@pytest.mark.parametrize("line_width", [1.0, 2.5])
def test_rasterize_equals_the_brute_force_definition(line_width):
    rng = np.random.default_rng(0)
    offsets = np.concatenate([rng.normal(scale=20, size=(60, 2)),
                              (rng.random((60, 1)) < 0.2)], axis=1)
    np.testing.assert_allclose(render.rasterize(offsets, line_width=line_width),
                               brute_force_rasterize(offsets, line_width=line_width), atol=1e-6)


def test_rasterize_draws_nothing_for_dots_and_empty_sketches():
    assert render.rasterize(np.zeros((0, 3))).max() == 0.0
    dots = np.array([[1, 1, 1], [3, 2, 1], [4, 4, 1]], np.float32)
    assert render.rasterize(dots).max() == 0.0


def test_svg_text_uses_upstream_path_commands():
    offsets = np.array([[0, 5, 1], [10, 0, 0], [0, 5, 0], [-1, -1, 1]], np.float32)
    path = render.svg_text(offsets).split('d="')[1].split('"')[0]
    assert path.split() == ["M1.5,1.5", "m0.0,22.5", "m45.0,0.0", "l0.0,22.5", "-4.5,-4.5"]


def test_png_round_trip_and_colour_invariant_ink(tmp_path):
    offsets = np.array([[0, 0, 0], [10, 3, 0], [2, 8, 1]], np.float32)
    ink = render.rasterize(offsets)
    for color in ("black", "tomato", "blue"):
        path = str(tmp_path / f"{color}.png")
        render.save_png(render.to_image(ink, color), path)
        mode = Image.open(path).mode
        assert mode == ("L" if color == "black" else "RGB")
        loaded = render.load_ink(path)
        tolerance = 1 / 255 if color != "tomato" else 0.3
        np.testing.assert_allclose(loaded, ink, atol=tolerance)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp_")]


@pytest.fixture(scope="module")
def model_and_batch(gloc_bundle):
    model, hparams = load_sampling_model(os.path.join(gloc_bundle, "ckpt"))
    data = prepare_data(os.path.join(gloc_bundle, "data"), hparams, keep_sizes=True)
    batcher = SketchBatcher(data.test, data.hparams, augment=False)
    batch = batcher.batch(np.array([0, 12, 3, 15]), 0.3, np.random.RandomState(0))
    return model, data.hparams, batch


def test_take_sketches_repacks_the_node_rows(model_and_batch):
    _, _, batch = model_and_batch
    taken = pictures.take_sketches(batch, 2)
    nodes = batch["input_box"].shape[1]
    assert taken["input_strokes"].shape[0] == 2 * nodes
    for index in range(2):
        for mine, theirs in zip(pictures.node_polylines(taken, index),
                                pictures.node_polylines(batch, index)):
            np.testing.assert_array_equal(mine, theirs)
    sketch = pictures.target_sketch(batch["input_seqs"][1])
    assert sketch.shape == (batch["seq_len"][1], 3)


def test_reconstruction_grid_and_interpolation_strip(model_and_batch, tmp_path):
    model, hparams, batch = model_and_batch
    sampler = Sampler(model, 20, greedy=True)
    path = pictures.reconstruction_grid(model, hparams, batch, str(tmp_path / "grid.png"),
                                        max_sketches=3, sampler=sampler, title="epoch 1")
    width, height = Image.open(path).size
    assert width >= height > 200
    path = pictures.interpolation_strip(model, hparams.replace(max_seq_len=20), batch,
                                        str(tmp_path / "strip.png"), steps=3)
    width, height = Image.open(path).size
    assert width >= 4 * height


def test_training_curves_from_tensorboard_scalars(tmp_path):
    for folder, tags in (("train", ("Train_Cost", "Learning_Rate")), ("valid", ("Valid_Cost",))):
        writer = tf.summary.create_file_writer(str(tmp_path / "logs" / folder))
        with writer.as_default():
            for step in range(0, 50, 10):
                for tag in tags:
                    tf.summary.scalar(tag, 100.0 - step if "Cost" in tag else 1e-3, step=step)
        writer.close()
    scalars = pictures.read_scalars(str(tmp_path / "logs"))
    assert set(scalars) == {"Train_Cost", "Valid_Cost", "Learning_Rate"}
    steps, values = scalars["Valid_Cost"]
    np.testing.assert_array_equal(steps, [0, 10, 20, 30, 40])
    np.testing.assert_allclose(values, [100, 90, 80, 70, 60])
    assert tool_status(["curves", str(tmp_path / "logs"), str(tmp_path / "curves.png")]) == 0
    assert Image.open(tmp_path / "curves.png").size[0] > 300
    assert tool_status(["curves", str(tmp_path / "nothing"), str(tmp_path / "x.png")]) == 1


def test_grid_command_line(gloc_bundle, tmp_path):
    output = str(tmp_path / "grid.png")
    assert tool_status(["grid", os.path.join(gloc_bundle, "ckpt"), output, "--data_dir",
                          os.path.join(gloc_bundle, "data"), "--num", "2"]) == 0
    assert os.path.exists(output)


def test_sample_sheet_of_a_sample_folder(tmp_path):
    folder = tmp_path / "samples"
    rng = np.random.default_rng(0)
    for label, name in enumerate(["cat", "bus"]):
        os.makedirs(folder / name)
        for index in range(3):
            sketch = np.concatenate([rng.normal(size=(6, 2)), [[0]] * 5 + [[1]]], axis=1)
            np.save(folder / f"s_{label}_{index}.npy", sketch[None])
            np.save(folder / f"code_{label}_{index}.npy", np.zeros((1, 4), np.float32))
            render.save_png(render.to_image(render.rasterize(sketch)),
                            str(folder / name / f"{label}_{index}.png"))
    np.save(folder / "s_1_3.npy", np.zeros((1, 0, 3)))
    np.save(folder / "code_1_3.npy", np.zeros((1, 4), np.float32))
    assert pictures._category_names(str(folder)) == {0: "cat", 1: "bus"}
    output = str(tmp_path / "sheet.png")
    assert tool_status(["samples", str(folder), output, "--per_category", "4"]) == 0
    width, height = Image.open(output).size
    assert width > 2 * height
