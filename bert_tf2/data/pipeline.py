"""Training examples and deterministic `tf.data` pipelines of fixed-shape Sketch-BERT batches.

One example (upstream `get_term` + `get_mask_result`, spec §2.6) is: transform the raw sketch
(`transform.py`), draw its mask (`masking.py`), `mask_input = stroke * mask`, prepend the special
token rows. A triplet (upstream `get_triplet`) draws, in this order, the anchor's mask, the
negative class, the positive item, the negative item, the positive's mask and the negative's mask.

Batch dictionaries (`B` batch, `L` = max_length, `T` = number of token rows (0-2), `D` = 5 for
stroke-5, 3 for stroke-3/discrete):

| key | single (`get_type` != 'triplet') | triplet | meaning |
|---|---|---|---|
| `mask_input` | [B, L+T, D] float32 | [3, B, L+T, D] | model input: tokens, then stroke * mask |
| `stroke` | [B, L, D] float32 | [3, B, L, D] | unmasked target (no token rows) |
| `segment` | [B, L+T] int64 | [3, B, L+T] | 0 token, 1 padding, >= 2 stroke number + 2 |
| `length_mask` | [B, L+T] float32 | [3, B, L+T] | 1 = token or real row (attention mask) |
| `mask` | [B, L, D] float32 | [3, B, L, D] | 1 = kept, 0 = masked (no token rows) |
| `target` | [B] int64 | [3, B] | class label |
| `index` | [B] int64 | [3, B] | dataset item index |
| `valid` | [B] float32 | [B] | 1 = real example, 0 = padding of a final batch |

Triplet member axis order: anchor, positive, negative (as the reference bundles).

Determinism: item order comes from a seeded shuffle per epoch; every item draws its mask (and
triplet partners) from `numpy.random.RandomState([seed, epoch, index])`, so batches do not
depend on parallelism or on the position of the item in the stream. Transformed sketches are
computed once and cached in memory (when they fit `cache_bytes`); only masks are drawn per step.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from bert_tf2.data import masking, transform
from bert_tf2.data.memmap_format import MEMMAP_DTYPE
from bert_tf2.data.sketch_collections import MemmapSketches, SketchCollection
from bert_tf2.errors import BertConfigError, BertDataError

EXAMPLE_KEYS = ("mask_input", "stroke", "segment", "length_mask", "mask", "target", "index")
TRIPLET_MEMBERS = ("anchor", "positive", "negative")
DEFAULT_CACHE_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
    """How raw sketches become examples (the data keys of the YAML config).

    Attributes:
        max_length: rows per sketch without token rows (L).
        task_types: tasks; 'sketchclsinput' / 'sketchretrieval' add the token rows.
        stroke_type: 'stroke-5', 'stroke-3' or 'stroke-discrete'.
        normalization_type: 'max_scale', 'var_scale' or 'global_scale'.
        max_scale_factor: bounding-box extent after 'max_scale'.
        limit: clipping bound of raw offsets.
        max_size: discrete half-ranges.
        mask_task_type: 'task', 'single' or 'full'.
        mask_prob: probability of keeping an element.
        always_mask_end: mask the last real row's pen state ('task').
    """

    max_length: int = 250
    task_types: tuple = ("maskrec",)
    stroke_type: str = "stroke-5"
    normalization_type: str = "max_scale"
    max_scale_factor: float = 10
    limit: float = 1000
    max_size: tuple = (128, 128)
    mask_task_type: str = "task"
    mask_prob: float = 0.85
    always_mask_end: bool = True

    @classmethod
    def from_config(cls, config) -> "ExampleOptions":
        """Reads the options from a `bert_tf2.config.Config`."""
        return cls(max_length=config.max_length, task_types=tuple(config.task_types),
                   stroke_type=config.stroke_type,
                   normalization_type=config.normalization_type,
                   max_scale_factor=config.max_scale_factor, limit=config.limit,
                   max_size=tuple(config.max_size), mask_task_type=config.mask_task_type,
                   mask_prob=config.mask_prob,
                   always_mask_end=config.get("always_mask_end", True))

    @property
    def dim(self) -> int:
        return transform.STROKE_DIMS[self.stroke_type]

    @property
    def cls_in_input(self) -> bool:
        return "sketchclsinput" in self.task_types

    @property
    def rel_in_input(self) -> bool:
        return "sketchretrieval" in self.task_types

    @property
    def num_tokens(self) -> int:
        return masking.num_prefix_tokens(self.task_types)


class ExampleBuilder:
    """Builds single examples and triplets from a `SketchCollection` with NumPy.

    Args:
        sketches: the indexed raw sketches.
        options: `ExampleOptions`.
        cache_bytes: transformed sketches are computed once and kept when they need at most this
            many bytes (0 disables the cache).
    """

    def __init__(self, sketches: SketchCollection, options: ExampleOptions,
                 cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.sketches = sketches
        self.options = options
        size = len(sketches) * options.max_length * (options.dim * 8 + 8)
        self._cache = {} if size <= cache_bytes else None

    def transformed(self, index: int):
        """(stroke [L, D] float64, segment [L] float32, length_mask [L] float32) of one item."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        options = self.options
        try:
            result = transform.transform_stroke(
                self.sketches.sketch(index), options.max_length, options.stroke_type,
                options.normalization_type, options.max_scale_factor, options.limit,
                options.max_size)
        except BertDataError as error:
            raise BertDataError(f"{self.sketches.describe(index)}: {error}") from error
        if self._cache is not None:
            self._cache[index] = result
        return result

    def example(self, index: int, rng) -> dict:
        """One example (keys of `EXAMPLE_KEYS`, no batch axis); draws its mask from `rng`."""
        options = self.options
        stroke, segment, length_mask = self.transformed(index)
        mask = masking.generate_mask(stroke, int(length_mask.sum()), options.mask_task_type,
                                     options.mask_prob, rng, options.always_mask_end)
        mask_input = stroke * mask.astype(np.float64)
        mask_input, segment, length_mask = masking.add_special_tokens(
            mask_input, segment, length_mask, options.cls_in_input, options.rel_in_input)
        return {
            "mask_input": mask_input.astype(np.float32),
            "stroke": stroke.astype(np.float32),
            "segment": segment.astype(np.int64),
            "length_mask": length_mask.astype(np.float32),
            "mask": mask,
            "target": np.int64(self.sketches.labels[index]),
            "index": np.int64(index),
        }

    def triplet(self, index: int, rng) -> dict:
        """Anchor, positive (same class) and negative (other class) stacked on a leading axis 3."""
        anchor = self.example(index, rng)
        positive, negative = self.sketches.sample_triplet_partners(index, rng)
        members = (anchor, self.example(positive, rng), self.example(negative, rng))
        return {key: np.stack([member[key] for member in members]) for key in EXAMPLE_KEYS}

    def item_signature(self, triplet: bool) -> dict:
        """`tf.TensorSpec`s of one (unbatched) item."""
        length, dim = self.options.max_length, self.options.dim
        full = length + self.options.num_tokens
        shapes = {"mask_input": ([full, dim], tf.float32), "stroke": ([length, dim], tf.float32),
                  "segment": ([full], tf.int64), "length_mask": ([full], tf.float32),
                  "mask": ([length, dim], tf.float32), "target": ([], tf.int64),
                  "index": ([], tf.int64)}
        lead = [3] if triplet else []
        return {key: tf.TensorSpec(lead + shape, dtype) for key, (shape, dtype) in shapes.items()}


def item_rng(seed: int, epoch: int, index: int) -> np.random.RandomState:
    """The RandomState of one item in one epoch (independent of stream position)."""
    return np.random.RandomState([int(seed) & 0xFFFFFFFF, int(epoch), int(index)])


def epoch_permutation(seed: int, epoch, count: int) -> tf.Tensor:
    """The item order of one epoch: int32 `[count]`, a function of (`seed`, `epoch`) only.

    Stateless, so the order does not depend on a global TF seed or on earlier random ops.
    """
    keys = tf.random.stateless_uniform(
        [count], seed=tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch, tf.int64)]))
    return tf.argsort(keys, stable=True)


def make_dataset(builder: ExampleBuilder, batch_size: int, seed: int, triplet: bool = False,
                 shuffle: bool = True, num_epochs=None, drop_remainder: bool = True,
                 pad_final_batch: bool = False, skip_items: int = 0) -> tf.data.Dataset:
    """A deterministic `tf.data` pipeline of fixed-shape batches (see the module docstring).

    Args:
        builder: the `ExampleBuilder`.
        batch_size: B.
        seed: seed of the shuffles, masks and triplet sampling.
        triplet: yield triplets (`get_type: triplet`).
        shuffle: reshuffle the items every epoch.
        num_epochs: number of passes (None = repeat forever).
        drop_remainder: drop a final partial batch (keeps shapes static for XLA).
        pad_final_batch: instead pad the final batch with copies of item 0 marked `valid` = 0
            (evaluation: every item counted once, shapes static).
        skip_items: items of the stream to skip before batching (resuming after
            `skip_items // batch_size` iterations reproduces the uninterrupted stream; skipping
            happens on indices, before any example is built).

    Returns:
        A `tf.data.Dataset` of batch dicts.

    Raises:
        BertDataError: an empty collection, or triplets that cannot be sampled.
    """
    count = len(builder.sketches)
    if count == 0:
        raise BertDataError("no sketches to batch: the dataset is empty; check sum_path, "
                            "max_cls_cache, cls_limit_path and each_max_samples")
    if triplet:
        builder.sketches.check_triplets()
    padding = (-count) % batch_size if pad_final_batch else 0
    indices = np.concatenate([np.arange(count), np.zeros(padding, np.int64)]).astype(np.int64)
    valid = np.concatenate([np.ones(count), np.zeros(padding)]).astype(np.float32)
    signature = builder.item_signature(triplet)
    keys = list(signature)

    def epoch_items(epoch):
        order = tf.range(len(indices))
        if shuffle:
            order = epoch_permutation(seed, epoch, len(indices))
        items = tf.data.Dataset.from_tensor_slices(
            (tf.gather(indices, order), tf.gather(valid, order)))
        return items.map(lambda index, is_valid: (epoch, index, is_valid))

    def build(epoch, index):
        rng = item_rng(seed, epoch, index)
        item = builder.triplet(int(index), rng) if triplet else builder.example(int(index), rng)
        return [item[key] for key in keys]

    def to_dict(epoch, index, is_valid):
        values = tf.numpy_function(build, [epoch, index], [signature[k].dtype for k in keys],
                                   stateful=False)
        item = {}
        for key, value in zip(keys, values):
            value.set_shape(signature[key].shape)
            item[key] = value
        item["valid"] = is_valid
        return item

    epochs = (tf.data.Dataset.range(num_epochs) if num_epochs is not None
              else tf.data.Dataset.counter())
    dataset = epochs.flat_map(epoch_items).skip(skip_items)
    dataset = dataset.map(to_dict, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder or pad_final_batch)
    if triplet:
        dataset = dataset.map(_members_first)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _members_first(batch):
    """[B, 3, ...] → [3, B, ...] for every key but `valid`."""
    return {key: value if key == "valid" else tf.experimental.numpy.moveaxis(value, 1, 0)
            for key, value in batch.items()}


def check_config(config) -> None:
    """Rejects data settings the original would crash on or silently mis-handle (B27).

    Raises:
        BertConfigError: with the key to change.
    """
    if "sketchretrieval" in config.task_types and config.get_type != "triplet":
        raise BertConfigError("task 'sketchretrieval' needs get_type: 'triplet' (anchor, "
                              "positive, negative); set --get_type=triplet")
    if config.dataset != "quickdraw_memmap":
        raise BertConfigError(f"dataset '{config.dataset}' is not supported; the port reads "
                              f"'quickdraw_memmap' (build it with python -m bert_tf2.data.memmap)")
    if config.mask_task_type not in masking.MASK_TASK_TYPES:
        raise BertConfigError(f"mask_task_type '{config.mask_task_type}' is not one of "
                              f"{masking.MASK_TASK_TYPES}")
    if config.stroke_type not in transform.STROKE_DIMS:
        raise BertConfigError(f"stroke_type '{config.stroke_type}' is not one of "
                              f"{sorted(transform.STROKE_DIMS)}")
    columns = transform.STROKE_DIMS[config.stroke_type]
    if config.input_dim != columns:
        raise BertConfigError(
            f"input_dim = {config.input_dim} does not fit stroke_type '{config.stroke_type}', "
            f"whose rows have {columns} columns; set --input_dim={columns}")
    if config.mask_task_type == "task" and config.stroke_type != "stroke-5":
        raise BertConfigError("mask_task_type 'task' needs stroke_type 'stroke-5'; use "
                              "mask_task_type 'single' for other representations")


def make_sketches(config, split: str, each_max_samples: int) -> MemmapSketches:
    """The memmap index of one split as configured (sum_path, offset_path, class filters).

    Raises:
        BertDataError: unreadable files or offsets that do not fit the memmaps
            (`check_offsets`).
        BertConfigError: `cls_dim` smaller than the number of classes (`check_heads`).
    """
    sketches = MemmapSketches(
        config.sum_path, config.offset_path, mode=split, max_cls_cache=config.max_cls_cache,
        each_max_samples=each_max_samples, cls_limit_path=config.cls_limit_path,
        input_is_complete=config.input_is_complete, max_length=config.max_length,
        legacy_offsets=config.get("legacy_offsets", "as_is"))
    check_offsets(sketches, config.offset_path, each_max_samples)
    check_heads(config, sketches, split)
    return sketches


def check_offsets(sketches: MemmapSketches, offset_path: str, each_max_samples: int):
    """Checks the row ranges a split uses against its memmap files.

    Every used `(start, end)` must satisfy `0 <= start <= end <= rows of the class's memmap`
    (a range past the file would be cut short silently, one with start > end is empty).

    Args:
        sketches: the split's index.
        offset_path: the offsets file (for the message).
        each_max_samples: the per-class cap (only these ranges are used).

    Raises:
        BertDataError: naming the offsets file, the class, the sketch and the range.
    """
    row_bytes = 3 * np.dtype(MEMMAP_DTYPE).itemsize
    for name, path, offsets in zip(sketches.class_names, sketches.data_paths,
                                   sketches.class_offsets):
        used = np.asarray(offsets[:each_max_samples], dtype=np.int64).reshape(-1, 2)
        if not len(used):
            continue
        bad = np.flatnonzero((used[:, 0] < 0) | (used[:, 0] > used[:, 1]))
        if bad.size:
            raise BertDataError(
                f"{offset_path}: class '{name}' ({sketches.mode}) sketch {bad[0]} has the row "
                f"range {tuple(used[bad[0]].tolist())} with start > end or a negative start; "
                "rebuild the memmaps with python -m bert_tf2.data.memmap")
        rows = os.path.getsize(path) // row_bytes if os.path.exists(path) else 0
        bad = np.flatnonzero(used[:, 1] > rows)
        if bad.size and used[:, 1].max() > 0:
            raise BertDataError(
                f"{offset_path}: class '{name}' ({sketches.mode}) sketch {bad[0]} ends at row "
                f"{used[bad[0], 1]} but {path} holds {rows} rows; the offsets do not belong "
                "to these memmaps: rebuild them with python -m bert_tf2.data.memmap")


def check_heads(config, sketches: SketchCollection, split: str) -> None:
    """Checks that the classification head has a logit for every class of the data.

    Raises:
        BertConfigError: `sketchclsinput` with `cls_dim` below the number of classes.
    """
    classes = len(sketches.class_names)
    if "sketchclsinput" in config.task_types and config.cls_dim < classes:
        raise BertConfigError(
            f"cls_dim = {config.cls_dim} but the '{split}' split of {config.sum_path} has "
            f"{classes} classes; set --cls_dim={classes} (or keep fewer classes with "
            "max_cls_cache / cls_limit_path)")


def train_dataset(config, skip_batches: int = 0):
    """(dataset, sketches) of the training split (`mode`), shuffled, repeated, fixed batches.

    `skip_batches` resumes the stream after that many iterations (e.g. `continue`).
    """
    check_config(config)
    sketches = make_sketches(config, config.mode, config.each_max_samples)
    builder = ExampleBuilder(sketches, ExampleOptions.from_config(config))
    dataset = make_dataset(builder, config.batch_size, config.get("seed", 0),
                           triplet=config.get_type == "triplet", shuffle=True,
                           skip_items=skip_batches * config.batch_size)
    return dataset, sketches


def eval_dataset(config, split=None):
    """(dataset, sketches) of the evaluation split: one pass, final batch padded (`valid` = 0).

    Masks are the same at every evaluation (epoch 0 of the evaluation seed).
    """
    check_config(config)
    sketches = make_sketches(config, split or config.get("eval_split", "valid"),
                             config.each_val_samples)
    builder = ExampleBuilder(sketches, ExampleOptions.from_config(config))
    dataset = make_dataset(builder, config.batch_size, config.get("seed", 0) + 1,
                           triplet=config.get_type == "triplet",
                           shuffle=bool(config.shuffle_val), num_epochs=1, pad_final_batch=True)
    return dataset, sketches
