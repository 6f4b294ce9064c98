"""Raw stroke-3 sketches as a user hands them to the Python APIs of both models: checks, padding.

A raw sketch is a `[n, 3]` array of rows `(dx, dy, pen_lift)` in original Quick, Draw! units:
offsets from the previous point (row 0 from the origin), `pen_lift` 1 on the last point of a
stroke.
"""

import numpy as np

from sketch_common.errors import SketchInputError


def check_sketches(sketches, max_points: int, what: str = "sketch") -> list:
    """Validates a list of raw sketches; returns them as float32 `[n_i, 3]` arrays.

    Args:
        sketches: a non-empty list (or tuple) of `[n_i, 3]` array-likes.
        max_points: the longest sketch the model takes (e.g. SketchGloc's `max_seq_len`).
        what: how the message names an item ('sketch', 'partial sketch').

    Raises:
        SketchInputError: an empty list, or a sketch that is not a non-empty numeric `[n, 3]`
            array, holds NaN or inf, has pen flags other than 0 / 1 or more than `max_points`
            rows; the message names the sketch index.
    """
    if isinstance(sketches, np.ndarray) and sketches.dtype != object and sketches.ndim == 2:
        raise SketchInputError(f"expected a list of [n, 3] sketches, got one array of shape "
                              f"{sketches.shape}; wrap a single sketch in a list")
    if not isinstance(sketches, (list, tuple)) or not sketches:
        raise SketchInputError("expected a non-empty list of [n, 3] stroke-3 sketches")
    checked = []
    for index, sketch in enumerate(sketches):
        try:
            array = np.asarray(sketch, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise SketchInputError(f"{what} {index}: not a numeric array ({error})") from None
        if array.ndim != 2 or array.shape[1] != 3:
            raise SketchInputError(f"{what} {index}: expected shape [n, 3] (dx, dy, pen_lift), "
                                  f"got {list(array.shape)}")
        if len(array) == 0:
            raise SketchInputError(f"{what} {index}: has no points")
        if not np.all(np.isfinite(array)):
            raise SketchInputError(f"{what} {index}: holds NaN or infinite values")
        if not np.all((array[:, 2] == 0) | (array[:, 2] == 1)):
            raise SketchInputError(f"{what} {index}: pen_lift (column 2) must be 0 or 1")
        if len(array) > max_points:
            raise SketchInputError(f"{what} {index}: {len(array)} points, more than the model's "
                                  f"maximum of {max_points}")
        checked.append(array)
    return checked


def pad_batch(sketches) -> tuple:
    """`(strokes float32 [B, P, 3], lengths int32 [B])`, zero rows after each sketch."""
    lengths = np.array([len(sketch) for sketch in sketches], dtype=np.int32)
    strokes = np.zeros((len(sketches), int(lengths.max()), 3), dtype=np.float32)
    for row, sketch in enumerate(sketches):
        strokes[row, :len(sketch)] = sketch
    return strokes, lengths
