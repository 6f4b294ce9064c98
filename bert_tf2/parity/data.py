"""Data part of the Sketch-BERT parity tool: rebuild a bundle's data arrays from its raw sketches.

From `inputs.npz` (`raw_strokes`, `raw_offsets`, `raw_class`) and the bundle configs this module
recomputes, with the port's data code, every data array the original dataset produced:

* `pipe_stroke5`, `pipe_segment`, `pipe_length_mask`: the stroke transform of every raw sketch;
* `pipe_mask`: the mask generator called once after `numpy.random.seed(pipe_mask_seed[i])`;
* the pre-training batch `pt_*` (`config_pretrain.yml`, items `pt_dataset_index`) and the
  all-heads batch (`config.yml`, anchors `dataset_index[0]`, triplets when `get_type: triplet`):
  `mask_input`, `stroke`, `segment`, `length_mask`, `mask`, `target` (+ `dataset_index` for
  triplets).

The original built each batch after seeding NumPy's legacy global RNG once, then fetched items in
batch order. The seed is not stored as an array, so it is searched among 0 .. `SEED_SEARCH - 1`
by replaying the batch; with it the masks (and triplet partners) are reproduced exactly. When no
seed matches, masks and sampled partners are reported as not compared, and the other arrays are
rebuilt with the bundle's own masks and `dataset_index`.

Tolerances: exact for masks, segments, lengths, labels and indices; 1e-6 absolute for strokes and
model inputs (float64 pipeline cast to float32).
"""

import os

import numpy as np

from bert_tf2.config import load_config
from bert_tf2.data import masking, pipeline
from bert_tf2.data.sketch_collections import ArraySketches

SEED_SEARCH = 10000
FLOAT_ATOL = 1e-6


def _options(config_path, fallback_path, pretrain: bool) -> pipeline.ExampleOptions:
    path = config_path if os.path.exists(config_path) else fallback_path
    options = pipeline.ExampleOptions.from_config(load_config(path))
    if pretrain and path != config_path:
        options = pipeline.ExampleOptions(**{**options.__dict__, "task_types": ("maskrec",)})
    return options


def _compare_exact(report, name, actual, reference):
    report.compare(name, actual, reference, rtol=0.0, atol=0.0)


def _compare_float(report, name, actual, reference):
    report.compare(name, actual, reference, rtol=0.0, atol=FLOAT_ATOL)


def _check_pipe(report, inputs, builder):
    count = len(inputs["raw_offsets"])
    built = [builder.transformed(i) for i in range(count)]
    names = ("pipe_stroke5", "pipe_segment", "pipe_length_mask")
    for position, name in enumerate(names):
        if name in inputs:
            actual = np.stack([item[position] for item in built])
            (_compare_float if position == 0 else _compare_exact)(report, name, actual,
                                                                   inputs[name])
    if "pipe_mask" not in inputs:
        return
    if "pipe_mask_seed" not in inputs:
        report.skip("pipe_mask", inputs["pipe_mask"].shape, "bundle has no pipe_mask_seed")
        return
    options = builder.options
    masks = [masking.generate_mask(stroke, int(length_mask.sum()), options.mask_task_type,
                                   options.mask_prob, np.random.RandomState(int(seed)),
                                   options.always_mask_end)
             for (stroke, _, length_mask), seed in zip(built, inputs["pipe_mask_seed"])]
    _compare_exact(report, "pipe_mask", np.stack(masks), inputs["pipe_mask"])


def _replay(builder, anchors, rng, triplet):
    """Items of one batch fetched in order from one RNG stream (as the original loader)."""
    items = [builder.triplet(int(i), rng) if triplet else builder.example(int(i), rng)
             for i in anchors]
    axis = 1 if triplet else 0
    return {key: np.stack([item[key] for item in items], axis=axis) for key in items[0]}


def _find_seed(builder, anchors, reference_mask, triplet):
    """The legacy NumPy seed whose replay reproduces the stored masks of the batch, or None."""
    first = reference_mask[0, 0] if triplet else reference_mask[0]
    stroke, _, length_mask = builder.transformed(int(anchors[0]))
    options = builder.options
    for seed in range(SEED_SEARCH):
        mask = masking.generate_mask(stroke, int(length_mask.sum()), options.mask_task_type,
                                     options.mask_prob, np.random.RandomState(seed),
                                     options.always_mask_end)
        if np.array_equal(mask, first):
            batch = _replay(builder, anchors, np.random.RandomState(seed), triplet)
            if np.array_equal(batch["mask"], reference_mask):
                return seed
    return None


def _with_stored_masks(builder, indices, stored_masks):
    """Examples of the given items built with the bundle's masks instead of fresh draws."""
    options = builder.options
    fields = {key: [] for key in ("mask_input", "stroke", "segment", "length_mask", "target")}
    for index, mask in zip(indices.reshape(-1), stored_masks.reshape(-1, *stored_masks.shape[-2:])):
        stroke, segment, length_mask = builder.transformed(int(index))
        mask_input, segment, length_mask = masking.add_special_tokens(
            stroke * mask.astype(np.float64), segment, length_mask, options.cls_in_input,
            options.rel_in_input)
        fields["mask_input"].append(mask_input.astype(np.float32))
        fields["stroke"].append(stroke.astype(np.float32))
        fields["segment"].append(segment.astype(np.int64))
        fields["length_mask"].append(length_mask.astype(np.float32))
        fields["target"].append(np.int64(builder.sketches.labels[int(index)]))
    return {key: np.stack(values).reshape(indices.shape + np.shape(values[0]))
            for key, values in fields.items()}


def _check_batch(report, inputs, builder, prefix, index_name):
    """Compares one batch (`prefix` '' or 'pt_'); returns the seed found or None."""
    names = {key: prefix + key for key in ("mask_input", "stroke", "segment", "length_mask",
                                            "mask", "target")}
    if index_name not in inputs or names["mask"] not in inputs:
        return None
    stored_index = inputs[index_name]
    triplet = stored_index.ndim == 2
    anchors = stored_index[0] if triplet else stored_index
    seed = _find_seed(builder, anchors, inputs[names["mask"]], triplet)
    if seed is not None:
        batch = _replay(builder, anchors, np.random.RandomState(seed), triplet)
        if triplet:
            _compare_exact(report, index_name, batch["index"], stored_index)
    else:
        reason = (f"no legacy NumPy seed in 0..{SEED_SEARCH - 1} reproduces the stored masks; "
                  f"rebuilt the other arrays with the stored masks")
        report.skip(names["mask"], inputs[names["mask"]].shape, reason)
        if triplet:
            report.skip(index_name, stored_index.shape, "sampled partners need the batch seed")
        batch = _with_stored_masks(builder, stored_index, inputs[names["mask"]])
    for key, name in names.items():
        if name not in inputs or key not in batch:
            continue
        compare = _compare_float if key in ("mask_input", "stroke") else _compare_exact
        compare(report, name, batch[key], inputs[name])
    return seed


def check(bundle_dir, report) -> None:
    """Rebuilds every data array of a reference bundle and records the comparisons in `report`.

    Args:
        bundle_dir: folder with `inputs.npz`, `config.yml` and optionally `config_pretrain.yml`.
        report: a `sketch_common.parity_report.ParityReport`.
    """
    bundle_dir = str(bundle_dir)
    inputs_path = os.path.join(bundle_dir, "inputs.npz")
    with np.load(inputs_path) as data:
        inputs = {key: data[key] for key in data.files}
    sketches = ArraySketches(inputs["raw_strokes"], inputs["raw_offsets"],
                                    inputs["raw_class"], source=inputs_path)
    config_path = os.path.join(bundle_dir, "config.yml")
    pretrain_path = os.path.join(bundle_dir, "config_pretrain.yml")
    pretrain_builder = pipeline.ExampleBuilder(sketches, _options(pretrain_path, config_path,
                                                                  pretrain=True))
    _check_pipe(report, inputs, pretrain_builder)
    _check_batch(report, inputs, pretrain_builder, "pt_", "pt_dataset_index")
    if os.path.exists(config_path):
        builder = pipeline.ExampleBuilder(sketches, _options(config_path, config_path,
                                                             pretrain=False))
        _check_batch(report, inputs, builder, "", "dataset_index")
