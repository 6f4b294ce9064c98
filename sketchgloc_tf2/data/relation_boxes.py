"""The nine spatial relations between graph nodes (docs/differences.md#sg-2-7 step G).

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


def grid_offset(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Grid cell minus one: -1 where `values < low`, +1 where `values > high`, else 0 (int8)."""
    return (values > high).view(np.int8) - (values < low).view(np.int8)


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

    def offset(values, low, high):
        return grid_offset(values[:, None, :], low[:, :, None], high[:, :, None])

    code = offset(min_x, min_x, max_x) * np.int8(27) + offset(max_x, min_x, max_x) * np.int8(9)
    code += offset(min_y, min_y, max_y) * np.int8(3) + offset(max_y, min_y, max_y)
    code += np.int8(40)
    pair_mask = node_mask[:, :, None] & node_mask[:, None, :]
    return _TABLE[np.where(pair_mask, code, np.int8(_MISSING))]
