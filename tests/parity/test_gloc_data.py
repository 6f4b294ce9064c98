"""SketchGloc data layer: upstream batch semantics, reorganisation noise, pipeline, bad input."""

import json
import logging
import os

import numpy as np
import pytest

from helpers.gloc_literal_batch import literal_batch
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.data import augmentation, batching, ndjson, pipeline, quickdraw, synthetic
from sketchgloc_tf2.data.relation_boxes import relation_boxes
from sketchgloc_tf2.errors import SketchDataError
from sketchgloc_tf2.parity import data as parity_data
from sketch_common.parity_report import ParityReport


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    synthetic.write_dataset(str(directory), per_category=40, seed=3)
    return directory


@pytest.fixture(scope="module")
def demo_data(demo_dir):
    hparams = hparams_lib.HParams(categories=list(synthetic.CATEGORIES), batch_size=8)
    return pipeline.prepare_data(str(demo_dir), hparams)


def _random_batch_inputs(split, indices, rng, hparams):
    """Augmented training sketches with upstream's per-sketch draw order, as lists."""
    sketches = [split.strokes[index] for index in indices]
    uniforms = [rng.random_sample(augmentation.uniforms_needed(len(s))) for s in sketches]
    normals = [rng.standard_normal(batching.noise_draws_needed(s)) for s in sketches]
    padded, lengths = batching.pad_sketches(sketches)
    augmented, kept, bounds = augmentation.augment(
        padded, lengths, uniforms, 0.1, 0.1, np.float32(hparams.normalizing_scale_factor))
    return [augmented[b, :kept[b]] for b in range(len(kept))], bounds, normals


def _assert_batches_equal(actual, expected):
    assert set(expected) <= set(actual)
    for key, value in expected.items():
        np.testing.assert_array_equal(actual[key], value, err_msg=key)


# ---------------------------------------------------------------- parity with the original


def test_parity_with_reference_bundle_is_exact(gloc_bundle):
    report = ParityReport()
    parity_data.check(str(gloc_bundle), report)
    assert report.exit_code() == 0
    compared = {row.name for row in report.rows if row.compared}
    for batch in ("b0_train_prob0", "b1_train_prob0.3", "b2_test_prob0"):
        for field in ("input_seqs", "input_strokes", "input_stroke_len", "input_strokes_num",
                      "input_box", "box_ori"):
            assert f"{batch}/{field}" in compared
    assert all(row.max_abs == 0.0 for row in report.rows if row.compared)


@pytest.mark.parametrize("node_len,nodes,prob,clip", [
    (3, 4, 0.3, True), (2, 2, 0.0, True), (6, 30, 0.5, False), (1, 8, 0.1, True),
])
def test_vectorised_builder_matches_literal_loops(demo_data, node_len, nodes, prob, clip):
    hparams = demo_data.hparams
    rng = np.random.RandomState(node_len * 100 + nodes)
    indices = rng.choice(len(demo_data.train), 12, replace=False)
    sketches, bounds, normals = _random_batch_inputs(demo_data.train, indices, rng, hparams)
    sizes = batching.BatchSizes(hparams.max_seq_len, node_len, nodes, clip)
    built = batching.BatchBuilder(sizes).build(sketches, bounds, prob, normals)
    expected = literal_batch(sketches, bounds, prob, normals, hparams.max_seq_len, node_len,
                             nodes, clip)
    _assert_batches_equal(built, expected)


def _sketch(rows):
    return np.asarray(rows, dtype=np.float32)


EDGE_CASES = {
    "single_point_first_stroke": [[1, 2, 1], [3, 1, 0], [2, 2, 1], [1, -4, 0], [2, 2, 1]],
    "single_point_last_stroke": [[1, 2, 0], [3, 1, 1], [2, 2, 0], [1, 1, 1], [5, -3, 1]],
    "unfinished_last_stroke": [[1, 2, 0], [3, 1, 1], [2, 2, 0], [1, 1, 0]],
    "one_point": [[4, 5, 1]],
    "long_stroke": [[0.5, 0.1, 0]] * 11 + [[0.3, 0.2, 1]],
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
@pytest.mark.parametrize("clip", [True, False])
def test_edge_cases_match_literal_loops(case, clip):
    sketch = _sketch(EDGE_CASES[case])
    sketches = [sketch, _sketch(EDGE_CASES["single_point_first_stroke"])]
    rng = np.random.RandomState(5)
    normals = [rng.standard_normal(batching.noise_draws_needed(s)) for s in sketches]
    bounds = augmentation.noise_bounds(batching.pad_sketches(sketches)[0])
    sizes = batching.BatchSizes(14, 3, 5, clip)
    built = batching.BatchBuilder(sizes).build(sketches, bounds, 0.4, normals)
    _assert_batches_equal(built, literal_batch(sketches, bounds, 0.4, normals, 14, 3, 5, clip))


def test_single_point_first_stroke_shifts_second_stroke():
    sketch = _sketch(EDGE_CASES["single_point_first_stroke"])
    sizes = batching.BatchSizes(8, 4, 4)
    built = batching.BatchBuilder(sizes).build([sketch], [1.0], 0.0, [np.zeros(4)])
    absolute = built["input_seqs"][0, 1:6, :2]
    naive = np.cumsum(sketch[:, :2], axis=0)
    np.testing.assert_allclose(absolute[1:3], naive[1:3] + sketch[0, :2])
    np.testing.assert_allclose(absolute[3:], naive[3:])


def test_long_strokes_become_chunks_of_l_plus_one_points():
    sketch = _sketch(EDGE_CASES["long_stroke"])
    for clip, expected in ((True, [3, 3, 3, 0]), (False, [4, 4, 4, 0])):
        sizes = batching.BatchSizes(12, 3, 5, clip)
        built = batching.BatchBuilder(sizes).build([sketch], [1.0], 0.0, [np.zeros(0)])
        assert built["input_strokes_num"].tolist() == [3]
        assert built["input_stroke_len"][:4].tolist() == expected


def test_at_least_n_nodes_are_truncated_and_clamped():
    sketch = _sketch([[1, 0, 0]] * 5 + [[1, 0, 1]] + [[0, 1, 1]] * 3)
    sizes = batching.BatchSizes(12, 2, 3, clip_node_length=False)
    built = batching.BatchBuilder(sizes).build([sketch], [1.0], 0.0, [np.zeros(6)])
    assert built["input_strokes_num"].tolist() == [3]
    assert built["input_stroke_len"].tolist() == [2, 2, 1]


def test_box_worked_example_from_spec():
    bounds = np.array([[[0, 1, 0, 1], [-1, 2, -1, 2], [0.5, 1.5, -0.5, 0.5]]], dtype=np.float64)
    boxes = relation_boxes(bounds, np.ones((1, 3), dtype=bool))
    assert np.flatnonzero(boxes[0, 0, 1]).tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert np.flatnonzero(boxes[0, 0, 2]).tolist() == [3, 4, 6, 7]
    assert np.flatnonzero(boxes[0, 1, 1]).tolist() == [4]
    assert boxes[0].sum(axis=-1).min() >= 1


# ---------------------------------------------------------------- reorganisation noise


def _node_groups(built, batch):
    start = int(built["input_strokes_num"][:batch].sum())
    return range(start, start + int(built["input_strokes_num"][batch]))


def test_reorganisation_moves_strokes_rigidly_and_keeps_targets(demo_data):
    batcher = pipeline.SketchBatcher(demo_data.test, demo_data.hparams, augment=False)
    indices = np.arange(8)
    clean = batcher.batch(indices, 0.0, np.random.RandomState(11))
    noisy = batcher.batch(indices, 0.3, np.random.RandomState(11))
    np.testing.assert_array_equal(clean["input_seqs"], noisy["input_seqs"])
    np.testing.assert_array_equal(clean["box_ori"], noisy["box_ori"])
    np.testing.assert_array_equal(clean["input_stroke_len"], noisy["input_stroke_len"])
    moved_any = False
    for sketch in range(len(indices)):
        nodes = list(_node_groups(clean, sketch))
        first = nodes[0]
        length = clean["input_stroke_len"][first]
        np.testing.assert_array_equal(noisy["input_strokes"][first, :length],
                                      clean["input_strokes"][first, :length])
        for node in nodes:
            length = clean["input_stroke_len"][node]
            shift = noisy["input_strokes"][node, :length] - clean["input_strokes"][node, :length]
            np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-5)
            moved_any |= bool(np.abs(shift).max() > 1e-3)
    assert moved_any
    assert not np.array_equal(clean["input_box"], noisy["input_box"])


def test_noise_std_is_re_scale_times_bound():
    rng = np.random.RandomState(0)
    sketch = _sketch([[2, 1, 1], [3, 0, 1], [0, 3, 1], [1, 1, 1], [2, -1, 1]])
    bound = augmentation.noise_bounds(sketch[None])[0]
    sizes = batching.BatchSizes(5, 2, 5)
    clean = batching.BatchBuilder(sizes).build([sketch], [bound], 0.0, [np.zeros(8)])
    displacements = []
    for _ in range(1500):
        normals = [rng.standard_normal(8)]
        noisy = batching.BatchBuilder(sizes).build([sketch], [bound], 0.3, normals)
        displacements.append(noisy["input_strokes"][1:5, 0] - clean["input_strokes"][1:5, 0])
    ratio = np.std(np.concatenate(displacements)) / (0.3 * bound)
    assert abs(ratio - 1.0) < 0.05, ratio


def test_boxes_follow_the_moved_strokes(demo_data):
    hparams = demo_data.hparams.replace(max_stroke_len=200, max_strokes_num=12)
    batcher = pipeline.SketchBatcher(demo_data.train, hparams, augment=False)
    built = batcher.batch(np.arange(8), 0.5, np.random.RandomState(2))
    bounds = np.zeros((8, 12, 4))
    for sketch in range(8):
        for rank, node in enumerate(_node_groups(built, sketch)):
            points = built["input_strokes"][node, :built["input_stroke_len"][node]]
            bounds[sketch, rank] = (points[:, 0].min(), points[:, 0].max(),
                                    points[:, 1].min(), points[:, 1].max())
    mask = np.arange(12) < built["input_strokes_num"][:, None]
    np.testing.assert_array_equal(relation_boxes(bounds, mask), built["input_box"])


# ---------------------------------------------------------------- pipeline


def test_training_dataset_is_deterministic_and_resumable(demo_data):
    batcher = pipeline.SketchBatcher(demo_data.train, demo_data.hparams, augment=True)
    full = list(pipeline.training_dataset(batcher, 8, 0.3, seed=7, epoch=2).as_numpy_iterator())
    again = list(pipeline.training_dataset(batcher, 8, 0.3, seed=7, epoch=2).as_numpy_iterator())
    tail = list(pipeline.training_dataset(batcher, 8, 0.3, seed=7, epoch=2,
                                          start_step=3).as_numpy_iterator())
    other = next(pipeline.training_dataset(batcher, 8, 0.3, seed=7, epoch=3).as_numpy_iterator())
    assert len(full) == batcher.num_train_batches(8) == -(-len(batcher) // 8) - 1
    for first, second in zip(full, again):
        _assert_batches_equal(first, second)
    for first, second in zip(full[3:], tail):
        _assert_batches_equal(first, second)
    assert not np.array_equal(full[0]["input_seqs"], other["input_seqs"])
    signature = batcher.signature(8)
    for key, spec in signature.items():
        assert tuple(full[0][key].shape) == tuple(spec.shape), key


def test_eval_dataset_is_clean_and_in_order(demo_data):
    batcher = pipeline.SketchBatcher(demo_data.valid, demo_data.hparams, augment=False)
    batches = list(pipeline.eval_dataset(batcher, 8).as_numpy_iterator())
    assert len(batches) == len(demo_data.valid) // 8
    first = demo_data.valid.strokes[0]
    np.testing.assert_allclose(batches[0]["input_seqs"][0, 1:len(first) + 1, :2],
                               np.cumsum(first[:, :2], axis=0), rtol=1e-6)
    np.testing.assert_array_equal(batches[0]["input_box"], batches[0]["box_ori"])


def test_prepare_data_computes_sizes_and_scale(demo_data):
    every = [s for split in (demo_data.train, demo_data.valid, demo_data.test)
             for s in split.strokes]
    assert demo_data.hparams.max_seq_len == max(len(s) for s in every)
    assert demo_data.hparams.max_strokes_num >= 1
    train_std = np.std(np.concatenate([s[:, :2].ravel() for s in demo_data.train.strokes]))
    assert abs(train_std - 1.0) < 1e-4


# ---------------------------------------------------------------- real drawings


@pytest.mark.slow
@pytest.mark.realdata
def test_every_real_drawing_loads_and_batches(quickdraw_dir):
    categories = sorted(name[:-4] for name in os.listdir(quickdraw_dir) if name.endswith(".npz"))
    assert len(categories) > 300
    total = 0
    for start in range(0, len(categories), 40):
        group = categories[start:start + 40]
        prepared = pipeline.prepare_data(
            str(quickdraw_dir), hparams_lib.HParams(categories=group, batch_size=200))
        for name in quickdraw.SPLITS:
            batcher = pipeline.SketchBatcher(prepared.split(name), prepared.hparams,
                                             augment=name == "train")
            for first in range(0, len(batcher), 200):
                indices = np.arange(first, min(first + 200, len(batcher)))
                built = batcher.batch(indices, 0.3, np.random.RandomState(first))
                assert np.isfinite(built["input_strokes"]).all()
                assert (built["input_strokes_num"] >= 1).all()
                total += len(indices)
    assert total > 140000


# ---------------------------------------------------------------- bad input


def _write_npz(path, **splits):
    arrays = {}
    for name, sketches in splits.items():
        array = np.empty(len(sketches), dtype=object)
        array[:] = sketches
        arrays[name] = array
    np.savez(path, **arrays)


GOOD = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)


def test_missing_category_lists_available(demo_dir):
    with pytest.raises(SketchDataError, match=r"pig\.npz.*available categories there: circle"):
        quickdraw.load_data(str(demo_dir), ["pig"], 10)


@pytest.mark.parametrize("bad,message", [
    (np.array([1, 2, 3]), r"\[train\]\[1\]: expected shape \[n_points, 3\]"),
    (np.array([["a", "b", "c"]]), r"\[train\]\[1\]: expected a numeric dtype"),
    (np.array([[1.0, np.nan, 1.0]]), r"\[train\]\[1\]: NaN or inf at row 0"),
    (np.zeros((0, 3), dtype=np.int16), r"\[train\]\[1\]: empty sketch"),
    (np.array([[1, 2, 5]]), r"\[train\]\[1\]: pen_lift column must be 0 or 1"),
])
def test_bad_sketch_names_file_index_and_problem(tmp_path, bad, message):
    path = tmp_path / "cat.npz"
    _write_npz(path, train=[GOOD, bad], valid=[GOOD], test=[GOOD])
    with pytest.raises(SketchDataError, match=r"cat\.npz " + message):
        quickdraw.load_data(str(tmp_path), ["cat"], 10)


def test_npz_without_splits(tmp_path):
    np.savez(tmp_path / "cat.npz", train=np.empty(0, dtype=object))
    with pytest.raises(SketchDataError, match=r"cat\.npz: missing split\(s\) valid, test"):
        quickdraw.load_data(str(tmp_path), ["cat"], 10)


def test_unfinished_sketch_warns_with_count(tmp_path, caplog):
    unfinished = np.array([[1, 2, 0], [3, 4, 0]], dtype=np.int16)
    _write_npz(tmp_path / "cat.npz", train=[GOOD, unfinished, unfinished], valid=[GOOD],
               test=[GOOD])
    with caplog.at_level(logging.WARNING):
        quickdraw.load_data(str(tmp_path), ["cat"], 10)
    assert "2 sketch(es) do not end with a pen lift" in caplog.text


def test_too_long_sketch_for_model_names_file(demo_data):
    short = demo_data.hparams.replace(max_seq_len=5)
    with pytest.raises(SketchDataError, match=r"\.npz sketch \d+: \d+ points, more than"):
        pipeline.SketchBatcher(demo_data.train, short, augment=False)


# ---------------------------------------------------------------- converters and generators


def test_ndjson_conversion_round_trip(tmp_path):
    drawings = [
        {"word": "cat", "key_id": str(k), "recognized": True,
         "drawing": [[[10 + k, 20, 30], [5, 15, 25]], [[40, 50], [60, 70 + k]]]}
        for k in range(20)
    ]
    source = tmp_path / "cat.ndjson"
    source.write_text("\n".join(json.dumps(d) for d in drawings))
    written = ndjson.convert([str(source)], str(tmp_path / "out"), 0.1, 0.1, seed=1)
    assert [os.path.basename(p) for p in written] == ["cat.npz"]
    splits = quickdraw.load_category(written[0], 100)
    assert [len(splits[s]) for s in quickdraw.SPLITS] == [16, 2, 2]
    again = ndjson.convert([str(source)], str(tmp_path / "again"), 0.1, 0.1, seed=1)
    for split in quickdraw.SPLITS:
        for first, second in zip(splits[split], quickdraw.load_category(again[0], 100)[split]):
            np.testing.assert_array_equal(first, second)
    sketch = splits["train"][0]
    absolute = np.cumsum(sketch[:, :2], axis=0)
    assert sketch[:, 2].tolist() == [0, 0, 1, 0, 1]
    assert absolute[3].tolist() == [40, 60]


def test_ndjson_malformed_line_names_file_and_line(tmp_path):
    source = tmp_path / "bad.ndjson"
    source.write_text('{"word": "cat", "drawing": [[[1], [2]]]}\n{not json}\n')
    with pytest.raises(SketchDataError, match=r"bad\.ndjson:2: not valid JSON"):
        ndjson.convert([str(source)], str(tmp_path / "out"))


@pytest.mark.realdata
def test_ndjson_converts_real_monkeys(quickdraw_dir, tmp_path):
    source = quickdraw_dir / "simplified_ndjson" / "monkey_first1000.ndjson"
    if not source.exists():
        pytest.skip(f"{source} not present")
    written = ndjson.convert([str(source)], str(tmp_path), seed=0)
    splits = quickdraw.load_category(written[0], 10000)
    assert sum(len(splits[s]) for s in quickdraw.SPLITS) > 900


def test_synthetic_dataset_is_deterministic(tmp_path):
    first = synthetic.write_dataset(str(tmp_path / "a"), per_category=10, seed=4)
    second = synthetic.write_dataset(str(tmp_path / "b"), per_category=10, seed=4)
    for path_a, path_b in zip(first, second):
        a, b = quickdraw.load_category(path_a, 100), quickdraw.load_category(path_b, 100)
        for split in quickdraw.SPLITS:
            assert len(a[split]) > 0
            for sketch_a, sketch_b in zip(a[split], b[split]):
                np.testing.assert_array_equal(sketch_a, sketch_b)
                assert sketch_a[-1, 2] == 1
