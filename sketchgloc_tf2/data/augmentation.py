"""Training-split augmentation, with upstream arithmetic and random draws
(docs/differences.md#sg-2-6), batched.

Upstream draws, per training sketch and in this order, from numpy's global stream: two uniforms
for the stretch, one uniform per row for point dropping, two uniforms for the translation. The
caller draws those `uniforms_needed(n)` numbers per sketch from a `numpy.random.RandomState` (so
the stream matches upstream exactly); the arithmetic then runs on the whole padded batch at once.
Float32 arithmetic follows upstream under NumPy 2 promotion rules: offsets stay float32, bounds
are accumulated in float64, element-wise operations are the same IEEE operations as upstream's
scalar ones, so the results are bit-identical.

Padded batches are float32 `[B, W, 3]` arrays (rows past a sketch's length are zero) with int
lengths `[B]`.
"""

import numpy as np

CANVAS_WIDTH = 48.0


def uniforms_needed(num_rows: int) -> int:
    """Number of uniform draws augmenting a sketch of `num_rows` rows consumes."""
    return num_rows + 4


def origin_inclusive_bounds(padded: np.ndarray) -> np.ndarray:
    """Bounds of the visited absolute positions and the origin, accumulated in float64.

    Zero padding repeats the last position, so it never changes the bounds.

    Args:
        padded: `[B, W, >=2]` offsets.

    Returns:
        float64 `[B, 4]`: `(min_x, max_x, min_y, max_y)`.
    """
    absolute = np.cumsum(padded[..., :2].astype(np.float64), axis=1)
    low = np.minimum(absolute.min(axis=1), 0.0)
    high = np.maximum(absolute.max(axis=1), 0.0)
    return np.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], axis=1)


def noise_bounds(padded: np.ndarray) -> np.ndarray:
    """`bound` of each sketch: the larger side of its origin-inclusive box. float64 `[B]`."""
    bounds = origin_inclusive_bounds(padded)
    return np.maximum(bounds[:, 1] - bounds[:, 0], bounds[:, 3] - bounds[:, 2])


def stroke_positions(pen: np.ndarray) -> np.ndarray:
    """Index of each row within its stroke (0 on the row after a pen lift). int `[..., W]`."""
    rows = np.arange(pen.shape[-1])
    is_start = np.ones(pen.shape, dtype=bool)
    is_start[..., 1:] = pen[..., :-1] == 1
    return rows - np.maximum.accumulate(np.where(is_start, rows, 0), axis=-1)


def drop_points(padded, lengths, uniforms, prob):
    """sketch-rnn point dropping: merges interior points into the previous kept point.

    A row is merged when it is not a pen lift, is at least the 4th point of its stroke and its
    uniform is below `prob`; its offset is added (float32, in row order) to the last kept row, so
    the total displacement is preserved.

    Args:
        padded: float32 `[B, W, 3]`; lengths: `[B]`.
        uniforms: `[B, W]` draws in [0, 1), one per row.
        prob: dropping probability.

    Returns:
        `(padded, lengths)` of the kept rows.
    """
    valid = np.arange(padded.shape[1]) < lengths[:, None]
    pen = padded[..., 2]
    merged = valid & (pen == 0) & (stroke_positions(pen) > 2) & (uniforms < prob)
    if not merged.any():
        return padded.copy(), lengths.copy()
    flat_valid = valid.reshape(-1)
    flat_merged = merged.reshape(-1)[flat_valid]
    rows = padded.reshape(-1, 3)[flat_valid]
    kept = rows[~flat_merged].copy()
    group = np.cumsum(~flat_merged) - 1
    np.add.at(kept, (group[flat_merged], slice(0, 2)), rows[flat_merged, :2])
    kept_lengths = lengths - merged.sum(axis=1)
    out = np.zeros_like(padded)
    out[np.arange(out.shape[1]) < kept_lengths[:, None]] = kept
    return out, kept_lengths


def random_translations(padded, scale_factor, uniforms_x, uniforms_y) -> np.ndarray:
    """Upstream `stroke_pbias`: a translation drawn on a hard-coded 48-unit canvas (quirk
    docs/differences.md#sg-q5).

    Args:
        padded: normalised offsets `[B, W, 3]`.
        scale_factor: the split's normalising factor (float32).
        uniforms_x, uniforms_y: `[B]` draws in [0, 1).

    Returns:
        float32 `[B, 2]`: the offset to add to row 0 (normalised units).
    """
    scale = np.float32(scale_factor)
    half = np.float32(CANVAS_WIDTH / 2)
    bounds = origin_inclusive_bounds(padded).astype(np.float32) * scale + half
    min_x, max_x, min_y, max_y = bounds.T
    shrink, width = np.float32(0.8), np.float32(CANVAS_WIDTH)
    low_x, high_x = -min_x * shrink, (width - max_x) * shrink
    low_y, high_y = -min_y * shrink, (width - max_y) * shrink
    low = np.stack([low_x, low_y], axis=1).astype(np.float64)
    high = np.stack([high_x, high_y], axis=1).astype(np.float64)
    uniforms = np.stack([uniforms_x, uniforms_y], axis=1)
    return (low + (high - low) * uniforms).astype(np.float32) / scale


def augment(padded, lengths, uniforms, random_scale_factor, augment_stroke_prob, scale_factor):
    """Step A of the batch construction for training sketches (docs/differences.md#sg-2-7).

    Args:
        padded: normalised float32 `[B, W, 3]`; lengths `[B]`.
        uniforms: list of B arrays `[uniforms_needed(n_b)]` in upstream order.
        random_scale_factor: stretch range r.
        augment_stroke_prob: dropping probability (> 0; it gates the whole augmentation).
        scale_factor: the split's normalising factor.

    Returns:
        `(padded, lengths, bounds)`: the augmented batch and, per sketch, the larger side of the
        origin-inclusive box of the stretched (not yet dropped) sketch, used by the noise.
    """
    batch, width = padded.shape[:2]
    per_row = np.ones((batch, width))
    stretch = np.empty((batch, 2))
    shift_uniforms = np.empty((batch, 2))
    for row, (draws, length) in enumerate(zip(uniforms, lengths)):
        stretch[row] = draws[:2]
        per_row[row, :length] = draws[2:2 + length]
        shift_uniforms[row] = draws[2 + length:4 + length]
    factors = ((stretch - 0.5) * 2 * random_scale_factor + 1.0).astype(np.float32)
    stretched = padded.copy()
    stretched[..., :2] *= factors[:, None, :]
    bounds = noise_bounds(stretched)
    dropped, kept_lengths = drop_points(stretched, lengths, per_row, augment_stroke_prob)
    dropped[:, 0, :2] += random_translations(
        dropped, scale_factor, shift_uniforms[:, 0], shift_uniforms[:, 1])
    return dropped, kept_lengths, bounds
