"""The nine spatial relations between graph nodes (spec §2.7 step G).

Node i's bounding box splits the plane into a 3×3 grid (per axis: below the minimum, within
[min, max] inclusive, above the maximum). The four corners of node j's box fall into grid cells
`(xs|xe, ys|ye)`; the cells on the *border* of the rectangle `[xs..xe] × [ys..ye]` are marked
(a node strictly surrounding node i leaves the centre unmarked, as upstream). Channel
`c = 3·gx + gy`; `gx` indexes x (left / overlapping / right), `gy` indexes y.
"""

import numpy as np

_CELLS = np.arange(3)


def grid_position(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """0 where `values < low`, 2 where `values > high`, else 1 (ties count as inside)."""
    return np.where(values < low, 0, np.where(values > high, 2, 1))


def relation_boxes(bounds: np.ndarray, node_mask: np.ndarray) -> np.ndarray:
    """Builds the 9-channel adjacency of a batch.

    Args:
        bounds: float `[B, N, 4]` node boxes `(min_x, max_x, min_y, max_y)`.
        node_mask: bool `[B, N]`, True for the nodes that exist (the first `strokes_num[b]`).

    Returns:
        float32 `[B, N, N, 9]`; entry `[b, i, j, c]` = 1 when relation c holds for node j as
        seen from node i; zero rows and columns for missing nodes.
    """
    min_x, max_x, min_y, max_y = (bounds[..., k] for k in range(4))

    def grid(values, low, high):
        return grid_position(values[:, None, :], low[:, :, None], high[:, :, None])

    x_start, x_end = grid(min_x, min_x, max_x), grid(max_x, min_x, max_x)
    y_start, y_end = grid(min_y, min_y, max_y), grid(max_y, min_y, max_y)
    gx = _CELLS[:, None]
    gy = _CELLS[None, :]
    x_start, x_end, y_start, y_end = (
        array[..., None, None] for array in (x_start, x_end, y_start, y_end)
    )
    inside = (gx >= x_start) & (gx <= x_end) & (gy >= y_start) & (gy <= y_end)
    on_border = (gx == x_start) | (gx == x_end) | (gy == y_start) | (gy == y_end)
    pair_mask = node_mask[:, :, None] & node_mask[:, None, :]
    boxes = inside & on_border & pair_mask[..., None, None]
    batch, nodes = node_mask.shape
    return boxes.reshape(batch, nodes, nodes, 9).astype(np.float32)
