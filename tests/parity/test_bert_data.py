"""Tests of the Sketch-BERT data code: transform, masking, memmaps, tf.data pipeline, parity."""

import glob
import os
import stat

import numpy as np
import tensorflow as tf
import pytest

from bert_tf2.data import (masking, memmap_builder, memmap_format, pipeline, sketch_collections,
                           split_leaks, transform)
from bert_tf2.errors import BertDataError
from bert_tf2.parity import data as parity_data
from flags import bert_memmap
from sketch_common.parity_report import ParityReport
from sketch_common.safe_pickle import load_npz


def _inputs(bundle):
    with np.load(bundle / "inputs.npz") as data:
        return {key: data[key] for key in data.files}


def _random_sketch(rng, num_points, num_strokes):
    sketch = np.zeros((num_points, 3), np.int16)
    sketch[:, :2] = rng.integers(-30, 31, size=(num_points, 2))
    ends = np.sort(rng.choice(np.arange(num_points - 1), num_strokes - 1, replace=False))
    sketch[ends, 2] = 1
    sketch[-1, 2] = 1
    return sketch


def _write_npz(path, rng, sizes=(6, 3, 3), bad=None):
    splits = {}
    for split, count in zip(memmap_format.SPLITS, sizes):
        sketches = [_random_sketch(rng, int(rng.integers(5, 60)), 3) for _ in range(count)]
        arr = np.empty(count, dtype=object)
        arr[:] = sketches
        splits[split] = arr
    if bad is not None:
        splits["train"][bad] = np.zeros((4, 2), np.int16)
    np.savez(path, **splits)
    return splits


# ----------------------------------------------------------------------------- parity (fixture)

def test_transform_matches_reference_pipeline(bert_bundle):
    inputs = _inputs(bert_bundle)
    for i, (start, end) in enumerate(inputs["raw_offsets"]):
        stroke, segment, length_mask = transform.transform_stroke(
            inputs["raw_strokes"][start:end], 40, "stroke-5", "max_scale", 10, 1000)
        np.testing.assert_array_equal(stroke, inputs["pipe_stroke5"][i])
        np.testing.assert_array_equal(segment, inputs["pipe_segment"][i])
        np.testing.assert_array_equal(length_mask, inputs["pipe_length_mask"][i])


def test_task_mask_reproduces_reference_draws(bert_bundle):
    inputs = _inputs(bert_bundle)
    for i, seed in enumerate(inputs["pipe_mask_seed"]):
        stroke = inputs["pipe_stroke5"][i]
        length = int(inputs["pipe_length_mask"][i].sum())
        mask = masking.generate_mask(stroke, length, "task", 0.85,
                                     np.random.RandomState(int(seed)))
        np.testing.assert_array_equal(mask, inputs["pipe_mask"][i])


def test_parity_data_check_passes_on_bundle(bert_bundle):
    report = ParityReport()
    parity_data.check(bert_bundle, report)
    assert report.num_compared == 17 and report.num_failed == 0
    assert report.exit_code() == 0


def test_parity_data_check_without_seed_uses_stored_masks(bert_bundle, monkeypatch):
    monkeypatch.setattr(parity_data, "SEED_SEARCH", 3)
    report = ParityReport()
    parity_data.check(bert_bundle, report)
    skipped = {row.name for row in report.rows if not row.compared}
    assert skipped == {"pt_mask", "mask", "dataset_index"}
    assert report.num_failed == 0 and report.num_compared == 14


def test_worked_example_of_the_spec():
    # 20 points, lifts after points 10, 14, 15 and 20 (spec §2.10).
    sketch = np.zeros((20, 3), np.int16)
    sketch[:, 0] = np.arange(20) % 7 - 3
    sketch[:, 1] = np.arange(20) % 5 - 2
    sketch[[9, 13, 14, 19], 2] = 1
    stroke, segment, length_mask = transform.transform_stroke(sketch, 40)
    assert length_mask.sum() == 21
    np.testing.assert_array_equal(stroke[0], [0, 0, 1, 0, 0])
    assert all(stroke[r, 3] == 1 for r in (10, 14, 15, 20))
    np.testing.assert_array_equal(stroke[21:], np.tile([0, 0, 0, 0, 1], (19, 1)))
    np.testing.assert_array_equal(segment, [2] * 11 + [3] * 4 + [4] + [5] * 5 + [1] * 19)
    path = np.cumsum(stroke[:21, :2], axis=0)
    extent = np.maximum(path.max(0), 0) - np.minimum(path.min(0), 0)
    np.testing.assert_allclose(extent, [10, 10])
    mask = masking.generate_mask(stroke, 21, "task", 0.85, np.random.RandomState(0))
    assert np.flatnonzero(masking.stroke_start_rows(stroke, 21)).tolist() == [0, 11, 16]
    assert (mask[:, 0] == 0).sum() == 2  # 18 non-start rows → 2; 3 start rows → 0
    assert (mask[:, 2] == 0).sum() == 5  # p_down 17 → 2, p_up 4 → 0, p_end 19 → 2, end row


# ----------------------------------------------------------------------------- transform

def test_transform_edge_cases():
    flat = np.array([[0, 5, 0], [0, 7, 1]], np.int16)  # x extent 0 → 1
    stroke, _, _ = transform.transform_stroke(flat, 8)
    np.testing.assert_array_equal(stroke[:3, 0], [0, 0, 0])
    np.testing.assert_allclose(stroke[1:3, 1], [5 / 12 * 10, 7 / 12 * 10])
    jump = np.array([[1500, -1234, 0], [10, 10, 1]], np.int16)
    stroke, _, _ = transform.transform_stroke(jump, 8, normalization_type="global_scale")
    np.testing.assert_array_equal(stroke[1, :2], [1000, -1000])
    long = np.ones((50, 3), np.int16)
    stroke, segment, length_mask = transform.transform_stroke(long, 10)
    assert length_mask.sum() == 10 and stroke[:, 4].sum() == 0 and (segment >= 2).all()
    stroke3, _, _ = transform.transform_stroke(flat, 8, stroke_type="stroke-3")
    assert stroke3.shape == (8, 3) and (stroke3[3:] == 0).all()
    stroke, _, _ = transform.transform_stroke(jump, 8, normalization_type="var_scale")
    np.testing.assert_allclose(stroke[:3, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(stroke[:3, :2].std(0), 1)
    with pytest.raises(BertDataError, match="N, 3"):
        transform.transform_stroke(np.zeros((4, 2)), 8)


# ----------------------------------------------------------------------------- masking

def test_task_masking_group_counts_and_positions():
    rng = np.random.default_rng(5)
    masked_offsets, real_offsets = 0, 0
    for trial in range(20):
        sketch = _random_sketch(rng, int(rng.integers(150, 240)), 12)
        stroke, _, length_mask = transform.transform_stroke(sketch, 250)
        length = int(length_mask.sum())
        mask = masking.generate_mask(stroke, length, "task", 0.85, np.random.RandomState(trial))
        starts = masking.stroke_start_rows(stroke, length)
        real = np.arange(250) < length
        assert (mask[:, 0] == mask[:, 1]).all() and (mask[:, 2] == mask[:, 3]).all()
        assert (mask[~real, 0] == 1).all()  # padding offsets are never masked
        for group in (real & ~starts, starts):
            assert (mask[group, 0] == 0).sum() == masking.num_masked(group.sum(), 0.85)
        assert mask[length - 1, 2] == 0  # the last real row's pen state is always masked
        for column in (2, 3, 4):
            group = stroke[:, column] == 1
            chosen = (mask[group, 2] == 0).sum() - int(group[length - 1])
            assert chosen in (masking.num_masked(group.sum(), 0.85),
                              masking.num_masked(group.sum(), 0.85) - 1)
        masked_offsets += (mask[real, 0] == 0).sum()
        real_offsets += real.sum()
    # k = int(m * 0.15) per group: the masked fraction is 15 % minus < 1 row per group.
    assert 0.13 <= masked_offsets / real_offsets <= 0.15


def test_single_full_and_keep_all_masks():
    stroke, _, length_mask = transform.transform_stroke(
        _random_sketch(np.random.default_rng(1), 100, 5), 128)
    length = int(length_mask.sum())
    single = masking.generate_mask(stroke, length, "single", 0.85, np.random.RandomState(0))
    masked_rows = np.flatnonzero((single == 0).all(1))
    assert len(masked_rows) == int(length * (1 - 0.85)) and masked_rows.max() < length
    assert ((single == 0).any(1) == (single == 0).all(1)).all()
    full = masking.generate_mask(stroke, length, "full", 0.85, np.random.RandomState(0))
    assert (full == 1).all()
    keep = masking.generate_mask(stroke, length, "task", 1.0, np.random.RandomState(0))
    assert (keep == 0).sum() == 3 and (keep[length - 1, 2:] == 0).all()
    assert masking.num_masked(5, 0.8) == 0 and masking.num_masked(7, 0.85) == 1
    with pytest.raises(BertDataError, match="stroke-5"):
        masking.generate_mask(stroke[:, :3], length, "task", 0.85, np.random.RandomState(0))
    with pytest.raises(BertDataError, match="mask_task_type"):
        masking.generate_mask(stroke, length, "tusk", 0.85, np.random.RandomState(0))


def test_special_tokens_order():
    mask_input = np.ones((4, 5))
    out, segment, length_mask = masking.add_special_tokens(
        mask_input, np.full(4, 2.0, np.float32), np.ones(4, np.float32), True, True)
    np.testing.assert_array_equal(out[:2, 0], [-2, -1])
    np.testing.assert_array_equal(segment[:3], [0, 0, 2])
    assert length_mask.shape == (6,) and (length_mask[:2] == 1).all()
    out, _, _ = masking.add_special_tokens(mask_input, np.zeros(4), np.ones(4), True, False)
    assert out.shape == (5, 5) and (out[0] == -1).all()


# ----------------------------------------------------------------------------- memmaps

def _build_synthetic(tmp_path, leak=False, classes=("cat", "dog", "owl")):
    rng = np.random.default_rng(3)
    contents = {}
    paths = []
    for name in classes:
        path = tmp_path / f"{name}.npz"
        contents[name] = _write_npz(path, rng)
        paths.append(str(path))
    out = tmp_path / ("leaky" if leak else "clean")
    sum_path, offset_path = memmap_builder.build_memmaps(paths, str(out), reproduce_split_leak=leak)
    return contents, sum_path, offset_path


def test_memmap_round_trip_synthetic(tmp_path):
    contents, sum_path, offset_path = _build_synthetic(tmp_path)
    assert open(sum_path).read().splitlines()[0] == "memmap/cat.dat\t12"
    offsets = memmap_format.read_offsets(offset_path)
    assert len(offsets["valid"]["dog"]) == 3
    for split in memmap_format.SPLITS:
        sketches = sketch_collections.MemmapSketches(sum_path, offset_path, split)
        assert sketches.class_names == ["cat", "dog", "owl"]
        expected = [s for name in ("cat", "dog", "owl") for s in contents[name][split]]
        assert len(sketches) == len(expected)
        for i, sketch in enumerate(expected):
            np.testing.assert_array_equal(sketches.sketch(i), sketch)
    assert split_leaks.find_split_leaks(sum_path, offset_path) == []
    limited = sketch_collections.MemmapSketches(sum_path, offset_path, "train", max_cls_cache=2,
                                    each_max_samples=4)
    assert limited.get_cate_num() == {0: 4, 1: 4}
    whitelist = tmp_path / "limit.txt"
    whitelist.write_text("owl\ncat\n")
    chosen = sketch_collections.MemmapSketches(sum_path, offset_path, "train", cls_limit_path=str(whitelist))
    assert chosen.class_names == ["cat", "owl"] and set(chosen.labels.tolist()) == {0, 1}
    complete = sketch_collections.MemmapSketches(sum_path, offset_path, "train", input_is_complete=True,
                                     max_length=30)
    assert all(len(complete.sketch(i)) < 30 for i in range(len(complete)))


def test_leaky_memmaps_are_detected_and_fixable(tmp_path):
    contents, sum_path, offset_path = _build_synthetic(tmp_path, leak=True)
    leaks = split_leaks.find_split_leaks(sum_path, offset_path)
    assert {(leak.class_name, leak.split) for leak in leaks} == {
        (c, s) for c in ("cat", "dog", "owl") for s in ("valid", "test")}
    assert all(leak.legacy_prefix and leak.duplicate_indices[:6] == list(range(6))
               for leak in leaks)
    as_is = sketch_collections.MemmapSketches(sum_path, offset_path, "valid")
    assert len(as_is) == 3 * 9
    fixed = sketch_collections.MemmapSketches(sum_path, offset_path, "valid", legacy_offsets="fix")
    assert len(fixed) == 3 * 3
    np.testing.assert_array_equal(fixed.sketch(0), contents["cat"]["valid"][0])
    assert bert_memmap.main(["--check_leaks", "--sum_path", sum_path, "--offset_path",
                         offset_path]) == 1


def test_upstream_cwd_relative_sum_paths(tmp_path, monkeypatch):
    contents, sum_path, offset_path = _build_synthetic(tmp_path)
    (tmp_path / "sums").mkdir()
    legacy_sum = tmp_path / "sums" / "memmap_sum.txt"  # paths relative to the CWD, not to it
    legacy_sum.write_text("".join(f"clean/memmap/{name}.dat\t0\n" for name in ("cat", "dog")))
    monkeypatch.chdir(tmp_path)
    sketches = sketch_collections.MemmapSketches(str(legacy_sum), offset_path, "test")
    assert sketches.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(sketches.sketch(3), contents["dog"]["test"][0])


def test_memmap_outputs_are_plain_files_with_the_usual_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        contents, sum_path, offset_path = _build_synthetic(tmp_path)
    finally:
        os.umask(previous)
    written = [sum_path, offset_path, *glob.glob(os.path.join(tmp_path, "clean", "memmap", "*"))]
    assert {oct(stat.S_IMODE(os.stat(path).st_mode)) for path in written} == {"0o644"}
    assert sorted(os.listdir(tmp_path / "clean")) == ["memmap", "memmap_sum.txt", "offsets.npz"]
    with np.load(offset_path, allow_pickle=False) as offsets:  # int64 arrays, no pickle
        assert offsets["valid/dog"].dtype == np.int64
        np.testing.assert_array_equal(
            offsets["valid/dog"][:, 1] - offsets["valid/dog"][:, 0],
            [len(sketch) for sketch in contents["dog"]["valid"]])


def test_memmap_cli_positional(tmp_path):
    rng = np.random.default_rng(0)
    _write_npz(tmp_path / "a.npz", rng)
    _write_npz(tmp_path / "b.npz", rng)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'a.npz'}\textra\n{tmp_path / 'missing.npz'}\n\n"
                       f"{tmp_path / 'b.npz'}\n")
    assert bert_memmap.main([str(listing), str(tmp_path / "out")]) == 0
    assert bert_memmap.main(["--check_leaks", "--output_dir", str(tmp_path / "out")]) == 0
    sketches = sketch_collections.MemmapSketches(str(tmp_path / "out" / "memmap_sum.txt"),
                                     str(tmp_path / "out" / "offsets.npz"), "test")
    assert sketches.class_names == ["a", "b"]


def test_memmap_cli_categories_from_data_dir(tmp_path):
    rng = np.random.default_rng(1)
    data_dir = tmp_path / "npz"
    data_dir.mkdir()
    for name in ("cat", "dog", "alarm clock"):
        _write_npz(data_dir / f"{name}.npz", rng)
    out = tmp_path / "out"
    assert bert_memmap.main(["--data_dir", str(data_dir), "--categories", "dog, alarm clock,cat",
                         "--output_dir", str(out)]) == 0
    sketches = sketch_collections.MemmapSketches(str(out / "memmap_sum.txt"), str(out / "offsets.npz"),
                                     "valid")
    assert sketches.class_names == ["dog", "alarm clock", "cat"]  # the given (label) order
    assert memmap_builder.category_npz_paths(str(data_dir), ["cat"]) == [str(data_dir / "cat.npz")]
    with pytest.raises(BertDataError, match=r"\['owl'\].*available: alarm clock, cat, dog"):
        memmap_builder.category_npz_paths(str(data_dir), "cat,owl")
    with pytest.raises(BertDataError, match="more than once"):
        memmap_builder.category_npz_paths(str(data_dir), "cat,cat")
    with pytest.raises(SystemExit):  # --categories needs --data_dir
        bert_memmap.main(["--categories", "cat", "--output_dir", str(out)])


def test_memmap_round_trip_real_quickdraw(tmp_path, quickdraw_dir):
    paths = sorted(str(p) for p in quickdraw_dir.glob("*.npz"))[:3]
    sum_path, offset_path = memmap_builder.build_memmaps(paths, str(tmp_path / "qd"))
    assert split_leaks.find_split_leaks(sum_path, offset_path) == []
    for split in ("train", "valid"):
        sketches = sketch_collections.MemmapSketches(sum_path, offset_path, split)
        for label, path in enumerate(paths):
            originals = load_npz(path)[split]
            indices = sketches.cls2index[label]
            assert len(indices) == len(originals)
            for i in (0, len(indices) // 2, len(indices) - 1):
                np.testing.assert_array_equal(sketches.sketch(indices[i]), originals[i])


def test_bad_inputs_name_file_and_sketch(tmp_path):
    _write_npz(tmp_path / "bad.npz", np.random.default_rng(0), bad=2)
    with pytest.raises(BertDataError, match=r"bad\.npz: sketch 2 of split 'train'"):
        memmap_builder.build_memmaps([str(tmp_path / "bad.npz")], str(tmp_path / "out"))
    big = np.empty(1, dtype=object)
    big[0] = np.array([[40000, 0, 1]])
    np.savez(tmp_path / "big.npz", train=big, valid=big, test=big)
    with pytest.raises(BertDataError, match=r"big\.npz: sketch 0 .*int16"):
        memmap_builder.build_memmaps([str(tmp_path / "big.npz")], str(tmp_path / "out"))
    _, sum_path, offset_path = _build_synthetic(tmp_path)
    with pytest.raises(BertDataError, match="sum file"):
        sketch_collections.MemmapSketches(str(tmp_path / "none.txt"), offset_path)
    (tmp_path / "clean" / "memmap" / "dog_train.dat").write_bytes(b"\0" * 12)
    sketches = sketch_collections.MemmapSketches(sum_path, offset_path, "train")
    with pytest.raises(BertDataError, match=r"dog_train\.dat: holds 2 rows but sketch 0"):
        sketches.sketch(sketches.cls2index[1][0])
    builder = pipeline.ExampleBuilder(
        sketch_collections.ArraySketches(np.zeros((5, 2)), [[0, 5]], [0], source="mem.npz"),
        pipeline.ExampleOptions())
    with pytest.raises(BertDataError, match=r"mem\.npz: sketch 0: .*N, 3"):
        builder.transformed(0)


# ----------------------------------------------------------------------------- tf.data

def _array_sketches(num_classes=3, per_class=5, seed=0):
    rng = np.random.default_rng(seed)
    sketches = [_random_sketch(rng, int(rng.integers(5, 40)), 3)
                for _ in range(num_classes * per_class)]
    lengths = [len(s) for s in sketches]
    ends = np.cumsum(lengths)
    offsets = np.stack([ends - lengths, ends], 1)
    labels = np.repeat(np.arange(num_classes), per_class)
    return sketch_collections.ArraySketches(np.concatenate(sketches), offsets, labels)


@pytest.mark.parametrize("tasks,triplet", [(("maskrec",), False), (("sketchclsinput",), False),
                                           (("maskrec", "sketchclsinput", "sketchretrieval"),
                                            True)])
def test_pipeline_shapes_and_determinism(tasks, triplet):
    options = pipeline.ExampleOptions(max_length=32, task_types=tasks)
    builder = pipeline.ExampleBuilder(_array_sketches(), options)
    make = lambda seed: list(pipeline.make_dataset(builder, 4, seed, triplet=triplet,
                                                   num_epochs=2).as_numpy_iterator())
    first, again, other = make(11), make(11), make(12)
    assert len(first) == (2 * 15) // 4  # batches run across epoch boundaries
    lead = (3, 4) if triplet else (4,)
    tokens = options.num_tokens
    expected = {"mask_input": (lead + (32 + tokens, 5), np.float32),
                "stroke": (lead + (32, 5), np.float32),
                "segment": (lead + (32 + tokens,), np.int64),
                "length_mask": (lead + (32 + tokens,), np.float32),
                "mask": (lead + (32, 5), np.float32), "target": (lead, np.int64),
                "index": (lead, np.int64), "valid": ((4,), np.float32)}
    for key, (shape, dtype) in expected.items():
        assert first[0][key].shape == shape and first[0][key].dtype == dtype, key
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["mask"], b["mask"]) for a, b in zip(first, other))
    batch = first[0]
    member = (lambda x: x[0]) if triplet else (lambda x: x)
    np.testing.assert_array_equal(member(batch["mask_input"])[..., tokens:, :],
                                  member(batch["stroke"]) * member(batch["mask"]))
    if tasks == ("sketchclsinput",):
        np.testing.assert_array_equal(batch["mask_input"][:, 0, :], -1)
        np.testing.assert_array_equal(batch["segment"][:, 0], 0)
    if triplet:
        labels = builder.sketches.labels
        anchor, positive, negative = batch["index"]
        assert (labels[anchor] == labels[positive]).all() and (anchor != positive).all()
        assert (labels[anchor] != labels[negative]).all()
        assert (batch["target"][0] == labels[anchor]).all()
        np.testing.assert_array_equal(batch["mask_input"][:, :, 0, :], -2)
        np.testing.assert_array_equal(batch["mask_input"][:, :, 1, :], -1)


def test_pipeline_eval_pads_final_batch():
    builder = pipeline.ExampleBuilder(_array_sketches(), pipeline.ExampleOptions(max_length=16))
    batches = list(pipeline.make_dataset(builder, 4, 0, shuffle=False, num_epochs=1,
                                         pad_final_batch=True).as_numpy_iterator())
    assert len(batches) == 4 and all(b["mask"].shape[0] == 4 for b in batches)
    assert np.concatenate([b["valid"] for b in batches]).sum() == 15
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches])[:15],
                                  np.arange(15))


def test_triplet_needs_two_items_per_class():
    sketches = sketch_collections.ArraySketches(np.zeros((6, 3)), [[0, 3], [3, 6]], [0, 1])
    builder = pipeline.ExampleBuilder(sketches, pipeline.ExampleOptions(max_length=8))
    with pytest.raises(BertDataError, match=">= 2 sketches per class"):
        pipeline.make_dataset(builder, 2, 0, triplet=True)


def test_epoch_order_ignores_the_global_seed():
    builder = pipeline.ExampleBuilder(_array_sketches(), pipeline.ExampleOptions(max_length=16))
    order = lambda: [batch["index"] for batch in pipeline.make_dataset(
        builder, 5, 3, num_epochs=2).as_numpy_iterator()]
    unseeded = order()
    tf.random.set_seed(1234)
    try:
        seeded = order()
        in_graph = tf.function(lambda: pipeline.epoch_permutation(3, tf.constant(0, tf.int64),
                                                                  15))()
    finally:
        tf.random.set_seed(None)
    np.testing.assert_array_equal(np.concatenate(unseeded), np.concatenate(seeded))
    np.testing.assert_array_equal(np.sort(in_graph.numpy()), np.arange(15))
    np.testing.assert_array_equal(in_graph.numpy(), np.concatenate(unseeded)[:15])
    assert not np.array_equal(in_graph.numpy(), np.arange(15))
