"""From `--data_dir` and hparams to fixed-shape batches, as numpy or as a `tf.data` pipeline.

`prepare_data` loads the categories once, computes the dataset-wide sizes and the normalising
scale factor (upstream recomputes both at every start; the port also stores them in
`model_config.json`) and normalises every split once. A `SketchBatcher` turns indices of one
split into a batch with upstream's random draws: per sketch, the augmentation uniforms then the
reorganisation normals, from one `numpy.random.RandomState` (so a seeded batch equals upstream's
batch made after `numpy.random.seed` with the same seed). `training_dataset` and `eval_dataset`
wrap the batcher in `tf.data` with `prefetch`, so batches are built while the model trains.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from sketchgloc_tf2.data import augmentation, quickdraw
from sketchgloc_tf2.data.batching import (
    BatchBuilder,
    BatchSizes,
    noise_draws_needed,
    pad_sketches,
)
from sketchgloc_tf2.errors import SketchDataError
from sketchgloc_tf2.hparams import HParams


@dataclasses.dataclass
class PreparedData:
    """Normalised splits and the hparams completed with the computed sizes and scale factor."""

    train: quickdraw.SketchSplit
    valid: quickdraw.SketchSplit
    test: quickdraw.SketchSplit
    hparams: HParams

    def split(self, name: str) -> quickdraw.SketchSplit:
        """The split called `name` ('train', 'valid' or 'test')."""
        if name not in quickdraw.SPLITS:
            raise SketchDataError(f"unknown split {name!r}; use one of {quickdraw.SPLITS}")
        return getattr(self, name)


def prepare_data(data_dir: str, hparams: HParams, keep_sizes: bool = False) -> PreparedData:
    """Loads, sizes and normalises the categories of `hparams` (docs/differences.md#sg-2-2 to
    #sg-2-5).

    Args:
        data_dir: folder of the `<category>.npz` files.
        hparams: categories, num_per_category and (if `keep_sizes`) the stored sizes.
        keep_sizes: keep `max_stroke_len`, `max_strokes_num` and the scale factor stored in
            `hparams` (a trained model's config) instead of the recomputed ones; a mismatch is
            logged. `max_seq_len` is always recomputed, as upstream's sampling tools do.

    Returns:
        `PreparedData` whose hparams carry the sizes and `normalizing_scale_factor` in use.
    """
    raw = quickdraw.load_data(data_dir, hparams.categories, hparams.num_per_category)
    every_sketch = [sketch for split in quickdraw.SPLITS for sketch in raw[split].strokes]
    max_seq_len, max_stroke_len, max_strokes_num = quickdraw.compute_sizes(every_sketch)
    scale_factor = float(quickdraw.normalizing_scale_factor(raw["train"].strokes))
    logging.info("max_seq_len %d, max_stroke_len %d, max_strokes_num %d, "
                 "normalizing_scale_factor %.4f", max_seq_len, max_stroke_len, max_strokes_num,
                 scale_factor)
    if keep_sizes and hparams.max_stroke_len > 0:
        computed = (max_stroke_len, max_strokes_num, scale_factor)
        stored = (hparams.max_stroke_len, hparams.max_strokes_num,
                  hparams.normalizing_scale_factor)
        if stored[2] <= 0:
            stored = (stored[0], stored[1], scale_factor)
        if not np.allclose(computed, stored, rtol=1e-6):
            logging.warning("sizes/scale factor recomputed from the data %s differ from the "
                            "stored ones %s; using the stored ones", computed, stored)
        max_stroke_len, max_strokes_num, scale_factor = stored
        max_seq_len = max(max_seq_len, hparams.max_seq_len)
    completed = hparams.replace(
        max_seq_len=max_seq_len,
        max_stroke_len=max_stroke_len,
        max_strokes_num=max_strokes_num,
        normalizing_scale_factor=scale_factor,
    )
    splits = {
        name: quickdraw.normalize(raw[name], np.float32(scale_factor))
        for name in quickdraw.SPLITS
    }
    return PreparedData(hparams=completed, **splits)


def batch_sizes(hparams: HParams) -> BatchSizes:
    """The padded sizes stored in `hparams`."""
    if min(hparams.max_seq_len, hparams.max_stroke_len, hparams.max_strokes_num) <= 0:
        raise SketchDataError(
            "max_seq_len, max_stroke_len and max_strokes_num are not set: run prepare_data "
            "first or load the model_config.json of a trained model"
        )
    return BatchSizes(hparams.max_seq_len, hparams.max_stroke_len, hparams.max_strokes_num,
                      hparams.clip_node_length)


class SketchBatcher:
    """Builds upstream batches from one normalised split.

    Args:
        split: the normalised split.
        hparams: sizes, batch size, augmentation settings and scale factor.
        augment: apply the training augmentation (upstream: training split only, and only when
            `augment_stroke_prob > 0`, which also gates the stretch and the translation).
    """

    def __init__(self, split: quickdraw.SketchSplit, hparams: HParams, augment: bool):
        self.split = split
        self.hparams = hparams
        self.augment = augment and hparams.augment_stroke_prob > 0
        self.builder = BatchBuilder(batch_sizes(hparams))
        self.scale_factor = np.float32(hparams.normalizing_scale_factor)
        too_long = [i for i, s in enumerate(split.strokes) if len(s) > hparams.max_seq_len]
        if too_long:
            path, index = split.sources[too_long[0]]
            raise SketchDataError(
                f"{path} sketch {index}: {len(split.strokes[too_long[0]])} points, more than "
                f"max_seq_len={hparams.max_seq_len} of the model ({len(too_long)} such sketches)"
            )

    def __len__(self):
        return len(self.split)

    def batch(self, indices, prob: float, rng: np.random.RandomState) -> dict:
        """The batch of `indices` with reorganisation strength `prob` (see `BatchBuilder.build`).

        Random numbers are drawn per sketch in upstream's order (augmentation uniforms, then the
        reorganisation normals, whose count does not depend on the augmentation).
        """
        sketches = [self.split.strokes[index] for index in indices]
        uniforms, normals = [], []
        for sketch in sketches:
            if self.augment:
                uniforms.append(rng.random_sample(augmentation.uniforms_needed(len(sketch))))
            normals.append(rng.standard_normal(noise_draws_needed(sketch)))
        padded, lengths = pad_sketches(sketches)
        if self.augment:
            hparams = self.hparams
            padded, lengths, bounds = augmentation.augment(
                padded, lengths, uniforms, hparams.random_scale_factor,
                hparams.augment_stroke_prob, self.scale_factor)
        else:
            bounds = augmentation.noise_bounds(padded)
        return self.builder.build_padded(padded, lengths, bounds, prob, normals)

    def num_eval_batches(self, batch_size: int) -> int:
        """Upstream's validation/test batch count: only full batches, in order."""
        return len(self) // batch_size

    def num_train_batches(self, batch_size: int) -> int:
        """Upstream's batches per epoch: `ceil(M / B) - 1` (drops the last full one when B | M)."""
        return max(-(-len(self) // batch_size) - 1, 0)

    def signature(self, batch_size: int) -> dict:
        """`tf.TensorSpec`s of a batch (fixed shapes, as XLA needs)."""
        sizes = self.builder.sizes
        nodes = sizes.max_strokes_num
        return {
            "input_seqs": tf.TensorSpec([batch_size, sizes.max_seq_len + 1, 5], tf.float32),
            "input_strokes": tf.TensorSpec(
                [batch_size * nodes, sizes.max_stroke_len, 2], tf.float32),
            "input_stroke_len": tf.TensorSpec([batch_size * nodes], tf.int32),
            "input_strokes_num": tf.TensorSpec([batch_size], tf.int32),
            "input_box": tf.TensorSpec([batch_size, nodes, nodes, 9], tf.float32),
            "box_ori": tf.TensorSpec([batch_size, nodes, nodes, 9], tf.float32),
            "seq_len": tf.TensorSpec([batch_size], tf.int32),
        }


def epoch_order(num_sketches: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled sketch order of one training epoch (deterministic in seed and epoch)."""
    return np.random.RandomState([seed, epoch]).permutation(num_sketches)


def batch_rng(seed: int, epoch: int, step: int) -> np.random.RandomState:
    """The random stream of one training batch, so any batch can be rebuilt on resume."""
    return np.random.RandomState([seed, epoch, step, 1])


def epoch_batches(batcher: SketchBatcher, batch_size: int, prob: float, seed: int, epoch: int,
                  start_step: int = 0):
    """Yields the shuffled, augmented training batches of one epoch from `start_step` on."""
    order = epoch_order(len(batcher), seed, epoch)
    for step in range(start_step, batcher.num_train_batches(batch_size)):
        indices = order[step * batch_size:(step + 1) * batch_size]
        yield batcher.batch(indices, prob, batch_rng(seed, epoch, step))


def training_dataset(batcher: SketchBatcher, batch_size: int, prob: float, seed: int,
                     epoch: int, start_step: int = 0) -> tf.data.Dataset:
    """One epoch of shuffled, augmented training batches, starting at `start_step`."""
    return tf.data.Dataset.from_generator(
        lambda: epoch_batches(batcher, batch_size, prob, seed, epoch, start_step),
        output_signature=batcher.signature(batch_size)
    ).prefetch(tf.data.AUTOTUNE)


def eval_dataset(batcher: SketchBatcher, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """The full batches of a split in order, clean (PROB 0), as upstream validates and tests."""

    def generate():
        for step in range(batcher.num_eval_batches(batch_size)):
            indices = np.arange(step * batch_size, (step + 1) * batch_size)
            yield batcher.batch(indices, 0.0, np.random.RandomState([seed, step, 2]))

    return tf.data.Dataset.from_generator(
        generate, output_signature=batcher.signature(batch_size)
    ).prefetch(tf.data.AUTOTUNE)
