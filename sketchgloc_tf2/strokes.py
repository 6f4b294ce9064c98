"""Stroke formats of SketchGloc's generated sketches and the conversions between them.

* stroke-5 rows as the decoder emits them: absolute x, y (normalised units) and the one-hot pen
  state (down, up, end) (`Sampler` output, `SampleResult.strokes_5d`);
* absolute stroke-3 `[l, 3]`: absolute x, y and the pen-up flag (upstream `seq_5d_to_3d`, the
  `s_*.npy` files of a sample folder);
* offset stroke-3 `[l, 3]`: each row minus the previous one (the Quick, Draw! / sketch-rnn format
  the encoder and the renderer read).

`reorganise` applies the stroke-reorganisation noise to an offset stroke-3 sketch.
"""

import numpy as np


def to_stroke3(strokes_5d: np.ndarray, length: int = None) -> np.ndarray:
    """Upstream `seq_5d_to_3d` on emitted points: rows before the first end token.

    Args:
        strokes_5d: `[T, 5]` points (absolute x, y, one-hot pen).
        length: number of rows to keep; the first end-of-sketch row (or T) when None.

    Returns:
        float64 `[l, 3]`: absolute x, y, pen-up flag (l can be 0).
    """
    strokes_5d = np.asarray(strokes_5d)
    if length is None:
        ends = np.flatnonzero(strokes_5d[:, 4] > 0)
        length = int(ends[0]) if ends.size else len(strokes_5d)
    result = np.zeros((length, 3), dtype=np.float64)
    result[:, :2] = strokes_5d[:length, :2]
    result[:, 2] = strokes_5d[:length, 3]
    return result


def absolute_to_offsets(absolute: np.ndarray, offbyone: bool = False) -> np.ndarray:
    """Absolute stroke-3 `[l, 3]` to offsets (each row minus the previous; row 0 unchanged).

    Args:
        absolute: `[l, 3]` absolute x, y and pen flag.
        offbyone: reproduce upstream retrieval's loop (docs/differences.md#sg-b7), which also
            subtracts the already differenced last row from row 0: the sketch is translated by minus
            its last movement (a single point becomes (0, 0)).

    Returns:
        `[l, 3]` offsets, same dtype.
    """
    offsets = np.array(absolute, copy=True)
    if len(offsets) > 1:
        offsets[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    if offbyone and len(offsets):
        offsets[0, :2] -= offsets[-1, :2]
    return offsets


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
