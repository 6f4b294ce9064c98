"""Pictures of masked reconstruction for TensorBoard: original | masked input | reconstruction.

The trainer writes `reconstruction_grid` of a few validation examples as the image
`val_reconstructions` at each validation with the `maskrec` task.
"""

import numpy as np


def stroke3_rows(stroke: np.ndarray, rows: int) -> np.ndarray:
    """The first `rows` rows of a stroke-5 (lift = p_up) or stroke-3 array as stroke-3."""
    lift = stroke[:rows, 3] if stroke.shape[1] == 5 else stroke[:rows, 2]
    return np.concatenate([stroke[:rows, :2], lift[:, None]], axis=1)


def masked_reconstruction(stroke: np.ndarray, mask: np.ndarray, prediction: np.ndarray):
    """The masked input and the reconstruction of one example.

    The masked input is what the model saw (masked entries 0); the reconstruction keeps the
    kept entries and fills the masked offsets (columns 0-1) with the predicted ones and, for
    stroke-5, the masked pen states with the argmax of the predicted pen logits (stroke-3 keeps
    its pen column).

    Args:
        stroke: `[L, D]` target rows.
        mask: `[L, D]`, 1 = kept, 0 = masked.
        prediction: `[L, D]` maskrec head output.

    Returns:
        `(masked [L, D], filled [L, D])`.
    """
    masked = stroke * mask
    filled = stroke.copy()
    filled[:, :2] = np.where(mask[:, :2] > 0, stroke[:, :2], prediction[:, :2])
    if stroke.shape[1] == 5:
        pen = np.eye(3, dtype=stroke.dtype)[np.argmax(prediction[:, 2:5], axis=1)]
        filled[:, 2:5] = np.where(mask[:, 2:3] > 0, stroke[:, 2:5], pen)
    return masked, filled


def reconstruction_grid(examples, width: int = 96) -> np.ndarray:
    """Renders examples as rows of three panels: original | masked input | reconstruction.

    Args:
        examples: list of `(stroke, mask, prediction, rows)`: `[L, D]` arrays of one example and
            its number of real rows.
        width: panel side in pixels.

    Returns:
        uint8 `[len(examples) * width, 3 * width]` grayscale image (black ink on white).
    """
    from sketch_common import render  # numpy rasteriser; matplotlib only needed here

    panels = []
    for stroke, mask, prediction, rows in examples:
        masked, filled = masked_reconstruction(stroke, mask, prediction)
        row = [render.to_image(render.rasterize(stroke3_rows(array, rows), width))
               for array in (stroke, masked, filled)]
        panels.append(np.concatenate(row, axis=1))
    return np.concatenate(panels, axis=0)
