"""Training-split augmentation of one sketch, with upstream arithmetic and random draws (spec §2.6).

Upstream draws, per training sketch and in this order, from numpy's global stream: two uniforms
for the stretch, one uniform per row for point dropping, two uniforms for the translation. The
functions here take those uniforms as arguments so that a caller can draw them in one call
(`uniforms_needed`) from any `numpy.random.RandomState` and reproduce upstream exactly. Float32
arithmetic follows upstream (NumPy 2 promotion rules): offsets stay float32, bounds are float64.
"""

import numpy as np

CANVAS_WIDTH = 48.0


def uniforms_needed(num_rows: int) -> int:
    """Number of uniform draws augmenting a sketch of `num_rows` rows consumes."""
    return num_rows + 4


def origin_inclusive_bounds(sketch: np.ndarray) -> tuple:
    """Bounds of the visited absolute positions and the origin, accumulated in float64.

    Args:
        sketch: `[n, >=2]` offsets.

    Returns:
        `(min_x, max_x, min_y, max_y)` as Python floats.
    """
    absolute = np.cumsum(sketch[:, :2].astype(np.float64), axis=0)
    low = np.minimum(absolute.min(axis=0), 0.0)
    high = np.maximum(absolute.max(axis=0), 0.0)
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def random_stretch(sketch: np.ndarray, factor: float, uniform_x: float, uniform_y: float):
    """Scales dx by `1 + (u_x - 0.5)·2·factor` and dy likewise (float32). Returns a copy."""
    stretched = sketch.copy()
    stretched[:, 0] *= np.float32((uniform_x - 0.5) * 2 * factor + 1.0)
    stretched[:, 1] *= np.float32((uniform_y - 0.5) * 2 * factor + 1.0)
    return stretched


def stroke_positions(pen: np.ndarray) -> np.ndarray:
    """Index of each row within its stroke (0 on the first row after a pen lift). int64 `[n]`."""
    rows = np.arange(len(pen))
    is_start = np.ones(len(pen), dtype=bool)
    is_start[1:] = pen[:-1] == 1
    return rows - np.maximum.accumulate(np.where(is_start, rows, 0))


def drop_points(sketch: np.ndarray, uniforms: np.ndarray, prob: float) -> np.ndarray:
    """sketch-rnn point dropping: merges interior points into the previous kept point.

    A row is merged when it is not a pen lift, is at least the 4th point of its stroke and its
    uniform is below `prob`; its offset is added (float32, in row order) to the last kept row, so
    the total displacement is preserved.

    Args:
        sketch: float32 `[n, 3]`.
        uniforms: `[n]` draws in [0, 1), one per row.
        prob: dropping probability.

    Returns:
        float32 `[n_kept, 3]`.
    """
    pen = sketch[:, 2]
    merged = (pen == 0) & (stroke_positions(pen) > 2) & (uniforms < prob)
    if not merged.any():
        return sketch.copy()
    kept = sketch[~merged].copy()
    group = np.cumsum(~merged) - 1
    np.add.at(kept, (group[merged], slice(0, 2)), sketch[merged, :2])
    return kept


def random_translation(sketch, scale_factor, uniform_x: float, uniform_y: float) -> np.ndarray:
    """Upstream `stroke_pbias`: a translation drawn on a hard-coded 48-unit canvas (quirk Q5).

    Args:
        sketch: normalised offsets `[n, 3]`.
        scale_factor: the split's normalising factor (float32).
        uniform_x, uniform_y: two draws in [0, 1).

    Returns:
        float32 `[2]`: the offset to add to row 0 (normalised units).
    """
    scale = np.float32(scale_factor)
    half = np.float32(CANVAS_WIDTH / 2)
    min_x, max_x, min_y, max_y = (
        np.float32(value) * scale + half for value in origin_inclusive_bounds(sketch)
    )
    shrink = np.float32(0.8)
    low_x, high_x = -min_x * shrink, (np.float32(CANVAS_WIDTH) - max_x) * shrink
    low_y, high_y = -min_y * shrink, (np.float32(CANVAS_WIDTH) - max_y) * shrink
    bias_x = float(low_x) + (float(high_x) - float(low_x)) * uniform_x
    bias_y = float(low_y) + (float(high_y) - float(low_y)) * uniform_y
    return np.array([np.float32(bias_x) / scale, np.float32(bias_y) / scale], dtype=np.float32)


def augment(sketch, uniforms, random_scale_factor, augment_stroke_prob, scale_factor):
    """Step A of the batch construction for a training sketch (spec §2.7).

    Args:
        sketch: normalised float32 `[n, 3]`.
        uniforms: `[uniforms_needed(n)]` draws in [0, 1), in upstream order.
        random_scale_factor: stretch range r.
        augment_stroke_prob: dropping probability (> 0; it gates the whole augmentation).
        scale_factor: the split's normalising factor.

    Returns:
        `(augmented, bound)`: float32 `[n_kept, 3]` and the larger side of the origin-inclusive
        box of the stretched (not yet dropped) sketch, used by the reorganisation noise.
    """
    stretched = random_stretch(sketch, random_scale_factor, uniforms[0], uniforms[1])
    min_x, max_x, min_y, max_y = origin_inclusive_bounds(stretched)
    bound = max(max_x - min_x, max_y - min_y)
    num_rows = len(sketch)
    dropped = drop_points(stretched, uniforms[2:2 + num_rows], augment_stroke_prob)
    dropped[0, :2] += random_translation(
        dropped, scale_factor, uniforms[2 + num_rows], uniforms[3 + num_rows]
    )
    return dropped, bound


def noise_bound(sketch: np.ndarray) -> float:
    """The `bound` of a sketch that is not augmented (validation, test, sampling)."""
    min_x, max_x, min_y, max_y = origin_inclusive_bounds(sketch)
    return max(max_x - min_x, max_y - min_y)
