"""Raw stroke-3 sketches as a user hands them to the Python API: checks, padding, reorganisation.

A raw sketch is a `[n, 3]` array of rows `(dx, dy, pen_lift)` in original Quick, Draw! units:
offsets from the previous point (row 0 from the origin), `pen_lift` 1 on the last point of a
stroke.
"""

import numpy as np

from sketchgloc_tf2.errors import SketchDataError


def check_sketches(sketches, max_points: int, what: str = "sketch") -> list:
    """Validates a list of raw sketches; returns them as float32 `[n_i, 3]` arrays.

    Args:
        sketches: a non-empty list (or tuple) of `[n_i, 3]` array-likes.
        max_points: the longest sketch the model takes (its `max_seq_len`).
        what: how the message names an item ('sketch', 'partial sketch').

    Raises:
        SketchDataError: an empty list, or a sketch that is not a non-empty numeric `[n, 3]`
            array, holds NaN or inf, has pen flags other than 0 / 1 or more than `max_points`
            rows; the message names the sketch index.
    """
    if isinstance(sketches, np.ndarray) and sketches.dtype != object and sketches.ndim == 2:
        raise SketchDataError(f"expected a list of [n, 3] sketches, got one array of shape "
                              f"{sketches.shape}; wrap a single sketch in a list")
    if not isinstance(sketches, (list, tuple)) or not sketches:
        raise SketchDataError("expected a non-empty list of [n, 3] stroke-3 sketches")
    checked = []
    for index, sketch in enumerate(sketches):
        try:
            array = np.asarray(sketch, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise SketchDataError(f"{what} {index}: not a numeric array ({error})") from None
        if array.ndim != 2 or array.shape[1] != 3:
            raise SketchDataError(f"{what} {index}: expected shape [n, 3] (dx, dy, pen_lift), "
                                  f"got {list(array.shape)}")
        if len(array) == 0:
            raise SketchDataError(f"{what} {index}: has no points")
        if not np.all(np.isfinite(array)):
            raise SketchDataError(f"{what} {index}: holds NaN or infinite values")
        if not np.all((array[:, 2] == 0) | (array[:, 2] == 1)):
            raise SketchDataError(f"{what} {index}: pen_lift (column 2) must be 0 or 1")
        if len(array) > max_points:
            raise SketchDataError(f"{what} {index}: {len(array)} points, more than the model's "
                                  f"maximum of {max_points} (max_seq_len)")
        checked.append(array)
    return checked


def pad_batch(sketches) -> tuple:
    """`(strokes float32 [B, P, 3], lengths int32 [B])`, zero rows after each sketch."""
    lengths = np.array([len(sketch) for sketch in sketches], dtype=np.int32)
    strokes = np.zeros((len(sketches), int(lengths.max()), 3), dtype=np.float32)
    for row, sketch in enumerate(sketches):
        strokes[row, :len(sketch)] = sketch
    return strokes, lengths


def reorganise(sketch: np.ndarray, re_scale: float, rng: np.random.RandomState) -> np.ndarray:
    """Moves every stroke but the first rigidly by Gaussian noise, as the `re_scale` task does.

    The noise of each moved stroke is isotropic with standard deviation `re_scale · bound`,
    `bound` being the larger side of the sketch's origin-inclusive bounding box (the training
    batches' rule, docs/differences.md#sg-2-7 step D), here applied to the raw offsets.

    Args:
        sketch: float32 `[n, 3]` raw stroke-3.
        re_scale: noise strength (0 returns the sketch unchanged).
        rng: the random generator.

    Returns:
        float32 `[n, 3]` raw stroke-3 of the reorganised sketch.
    """
    if re_scale <= 0 or len(sketch) < 2:
        return sketch
    absolute = np.cumsum(sketch[:, :2].astype(np.float64), axis=0)
    visited = np.concatenate([np.zeros((1, 2)), absolute])
    bound = float((visited.max(axis=0) - visited.min(axis=0)).max())
    stroke_ids = np.concatenate([[0], np.cumsum(sketch[:-1, 2] == 1)])
    shifts = rng.standard_normal((int(stroke_ids[-1]) + 1, 2)) * re_scale * bound
    shifts[0] = 0.0
    moved = absolute + shifts[stroke_ids]
    offsets = np.diff(np.concatenate([np.zeros((1, 2)), moved]), axis=0)
    return np.concatenate([offsets, sketch[:, 2:]], axis=1).astype(np.float32)
