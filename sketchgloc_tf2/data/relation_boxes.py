"""The nine spatial relations between graph nodes (spec §2.7 step G).

Node i's bounding box splits the plane into a 3×3 grid (per axis: below the minimum, within
[min, max] inclusive, above the maximum). The four corners of node j's box fall into grid cells
`(xs|xe, ys|ye)`; the cells on the *border* of the rectangle `[xs..xe] × [ys..ye]` are marked
(a node strictly surrounding node i leaves the centre unmarked, as upstream). Channel
`c = 3·gx + gy`; `gx` indexes x (left / overlapping / right), `gy` indexes y.
"""

import numpy as np



def _border_cells(x_start, x_end, y_start, y_end) -> np.ndarray:
    """The 9 channels marked for one combination of corner cells (x_start <= x_end etc.)."""
    cells = np.zeros((3, 3), dtype=np.float32)
    cells[x_start, y_start : y_end + 1] = 1
    cells[x_end, y_start : y_end + 1] = 1
    cells[x_start : x_end + 1, y_start] = 1
    cells[x_start : x_end + 1, y_end] = 1
    return cells.reshape(9)


# Row ((xs·3 + xe)·3 + ys)·3 + ye holds the channels of that corner combination; the last row
# (index 81) is all zeros and serves missing nodes.
_TABLE = np.stack(
    [
        _border_cells(xs, xe, ys, ye) if xs <= xe and ys <= ye else np.zeros(9, np.float32)
        for xs in range(3) for xe in range(3) for ys in range(3) for ye in range(3)
    ]
    + [np.zeros(9, np.float32)]
)
_MISSING = len(_TABLE) - 1


def grid_position(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """0 where `values < low`, 2 where `values > high`, else 1 (ties count as inside)."""
    return 1 + (values > high).astype(np.int64) - (values < low).astype(np.int64)


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

    code = grid(min_x, min_x, max_x) * 27 + grid(max_x, min_x, max_x) * 9
    code += grid(min_y, min_y, max_y) * 3 + grid(max_y, min_y, max_y)
    pair_mask = node_mask[:, :, None] & node_mask[:, None, :]
    return _TABLE[np.where(pair_mask, code, _MISSING)]
