"""Stroke-3 sketch → fixed-length model representation (upstream `transform_stroke`, spec §2.4).

Everything here is deterministic NumPy in float64, reproducing the original step order exactly:
start row, length mask, segment ids (on the untruncated sketch), truncation, clipping,
normalisation, representation. Randomness (masking) lives in `masking.py`.
"""

import numpy as np

from bert_tf2.errors import BertDataError

STROKE_DIMS = {"stroke-5": 5, "stroke-3": 3, "stroke-discrete": 3}
NORMALIZATION_TYPES = ("max_scale", "var_scale", "global_scale")

# Segment ids: 0 = special token, 1 = padding, >= 2 = stroke number + 2.
SEGMENT_PADDING = 1
FIRST_STROKE_SEGMENT = 2


def trajectory_bounds(offsets: np.ndarray):
    """Bounding box of the absolute trajectory of (dx, dy) offsets, origin included.

    Args:
        offsets: [N, >=2] array; columns 0 and 1 are the x and y offsets.

    Returns:
        (min_x, max_x, min_y, max_y) as floats; all four are 0 for an empty array.
    """
    if len(offsets) == 0:
        return 0.0, 0.0, 0.0, 0.0
    path = np.cumsum(offsets[:, :2].astype(np.float64), axis=0)
    min_x, min_y = np.minimum(path.min(axis=0), 0.0)
    max_x, max_y = np.maximum(path.max(axis=0), 0.0)
    return float(min_x), float(max_x), float(min_y), float(max_y)


def segment_ids(stroke3: np.ndarray, max_length: int) -> np.ndarray:
    """Per-row stroke ids of a (start-row prefixed, untruncated) stroke-3 array.

    Rows up to and including a row with lift == 1 close one stroke; the k-th stroke gets id k + 2.
    Rows after the last lift keep 0; rows beyond the sketch (padding) get 1.

    Args:
        stroke3: [n, 3] rows (dx, dy, lift).
        max_length: output length L.

    Returns:
        [L] float32 ids of the first L rows.
    """
    n = len(stroke3)
    ids = np.zeros(n, dtype=np.float32)
    lift_rows = np.flatnonzero(stroke3[:, 2] == 1)
    start = 0
    for number, lift_row in enumerate(lift_rows):
        ids[start:lift_row + 1] = FIRST_STROKE_SEGMENT + number
        start = lift_row + 1
    padded = np.full(max_length, SEGMENT_PADDING, dtype=np.float32)
    kept = min(n, max_length)
    padded[:kept] = ids[:kept]
    return padded


def _normalize(rows: np.ndarray, normalization_type: str, max_scale_factor: float) -> None:
    """Normalises columns 0-1 of `rows` ([l, 3] float64) in place."""
    if normalization_type == "max_scale":
        min_x, max_x, min_y, max_y = trajectory_bounds(rows)
        sizes = np.array([max_x - min_x, max_y - min_y])
        sizes[sizes == 0] = 1.0
        rows[:, :2] = rows[:, :2] / sizes.reshape(1, 2) * max_scale_factor
    elif normalization_type == "var_scale":
        stds = np.std(rows[:, :2], axis=0)
        stds[stds == 0] = 1.0
        means = np.mean(rows[:, :2], axis=0)
        rows[:, :2] = (rows[:, :2] - means.reshape(1, 2)) / stds.reshape(1, 2)
    # 'global_scale' is accepted and leaves the offsets unchanged, as upstream (bug B4).


def _to_stroke5(rows: np.ndarray, max_length: int) -> np.ndarray:
    result = np.zeros((max_length, 5), dtype=np.float64)
    length = len(rows)
    result[:length, 0:2] = rows[:, 0:2]
    result[:length, 3] = rows[:, 2]
    result[:length, 2] = 1 - result[:length, 3]
    result[length:, 4] = 1
    return result


def _to_stroke3(rows: np.ndarray, max_length: int) -> np.ndarray:
    result = np.zeros((max_length, 3), dtype=np.float64)
    result[:len(rows)] = rows
    return result


def _to_discrete(rows: np.ndarray, max_length: int, max_size) -> np.ndarray:
    """Bins offsets into [0, 2 * max_size]; a zero extent counts as 1 (upstream divides by 0)."""
    result = np.zeros((max_length, 3), dtype=np.float64)
    length = len(rows)
    min_x, max_x, min_y, max_y = trajectory_bounds(rows)
    scale = np.array([(max_x - min_x) / max_size[0], (max_y - min_y) / max_size[1]])
    scale[scale == 0] = 1.0
    result[:length, 0:2] = np.trunc(rows[:, 0:2] / scale) + np.asarray(max_size, np.float64)
    result[:length, 2] = rows[:, 2]
    result[length:, 2] = 2
    return result


def transform_stroke(stroke3, max_length: int, stroke_type: str = "stroke-5",
                     normalization_type: str = "max_scale", max_scale_factor: float = 10,
                     limit: float = 1000, max_size=(128, 128), insert_start_row: bool = True):
    """Turns one raw stroke-3 sketch into the fixed-length representation of the original.

    Steps (spec §2.4): prepend a (0, 0, 0) row (QuickDraw; TU-Berlin has none); length mask;
    segment ids on the untruncated rows; truncate to `max_length`; clip to [-limit, limit];
    normalise columns 0-1 (not for stroke-discrete); convert and pad.

    Args:
        stroke3: [N, 3] integer or float rows (dx, dy, lift), offsets in raw units.
        max_length: L, the number of output rows (special tokens excluded).
        stroke_type: 'stroke-5' (rows (dx, dy, p_down, p_up, p_end); padding (0, 0, 0, 0, 1)),
            'stroke-3' (padding rows zero) or 'stroke-discrete'.
        normalization_type: 'max_scale' (anisotropic: x and y bounding-box extents become
            `max_scale_factor`), 'var_scale' (per-column zero mean / unit population std) or
            'global_scale' (no change, as upstream).
        max_scale_factor: target extent of 'max_scale', in output units.
        limit: clipping bound of every column, raw units.
        max_size: half-ranges of the discrete bins (stroke-discrete only).
        insert_start_row: prepend the (0, 0, 0) start row (True for QuickDraw).

    Returns:
        (stroke [L, D] float64, segment [L] float32, length_mask [L] float32), D = 5 or 3;
        `length_mask.sum()` = min(N + 1, L) with the start row.

    Raises:
        BertDataError: a stroke array that is not [N, 3], or an unknown option.
    """
    stroke3 = np.asarray(stroke3)
    if stroke3.ndim != 2 or stroke3.shape[1] != 3:
        raise BertDataError(
            f"a sketch must be an [N, 3] stroke-3 array (dx, dy, lift), got shape "
            f"{stroke3.shape}; convert it to stroke-3 first")
    if stroke_type not in STROKE_DIMS:
        raise BertDataError(f"stroke_type '{stroke_type}' is not one of {sorted(STROKE_DIMS)}")
    if normalization_type not in NORMALIZATION_TYPES:
        raise BertDataError(
            f"normalization_type '{normalization_type}' is not one of {NORMALIZATION_TYPES}")
    offset = 1 if insert_start_row else 0
    rows = np.zeros((len(stroke3) + offset, 3), dtype=np.float64)
    rows[offset:] = stroke3
    length_mask = np.zeros(max_length, dtype=np.float32)
    length_mask[:len(rows)] = 1
    segment = segment_ids(rows, max_length)
    rows = np.clip(rows[:max_length], -limit, limit)
    if stroke_type == "stroke-discrete":
        return _to_discrete(rows, max_length, max_size), segment, length_mask
    _normalize(rows, normalization_type, max_scale_factor)
    if stroke_type == "stroke-5":
        return _to_stroke5(rows, max_length), segment, length_mask
    return _to_stroke3(rows, max_length), segment, length_mask
