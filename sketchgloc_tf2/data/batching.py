"""Batch construction of SketchGloc (docs/differences.md#sg-2-7 steps B–I), vectorised over the
batch.

Given already augmented sketches, this builds exactly what upstream's `_get_batch_from_indices`
feeds the graph: stroke-5 absolute targets, graph nodes (strokes cut into chunks of up to L+1
points) as zero-padded rows of absolute coordinates, node lengths and counts, and the nine-relation
boxes of the reorganised (`input_box`) and of the clean (`box_ori`) layout. Upstream's per-row
Python loops are replaced by array operations that perform the same float32 / float64 operations
in the same order, so the result matches upstream to the bit.

Reorganisation noise (the `re_scale` task, docs/differences.md#sg-2-7 step D): every stroke but the
first has its start moved by isotropic Gaussian noise of std `prob · bound`; the stroke moves
rigidly, the targets stay clean.
"""

import dataclasses

import numpy as np

from sketchgloc_tf2.data.relation_boxes import relation_boxes

START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class BatchSizes:
    """Padded sizes of a batch.

    Attributes:
        max_seq_len: T, points per sketch; targets are `[B, T+1, 5]`.
        max_stroke_len: L, points per node row fed to the encoder (chunks hold up to L+1).
        max_strokes_num: N, graph nodes per sketch.
        clip_node_length: report node lengths of at most L (upstream reports L+1 for the chunks
            of sketches with fewer than N nodes, which crashes its encoder on CPU;
            docs/differences.md#sg-b1).
    """

    max_seq_len: int
    max_stroke_len: int
    max_strokes_num: int
    clip_node_length: bool = True


def noise_draws_needed(sketch: np.ndarray) -> int:
    """Standard normal draws the reorganisation noise consumes for a sketch (2 per moved stroke)."""
    return 2 * int(np.count_nonzero(sketch[:-1, 2] == 1))


def pad_sketches(sketches) -> tuple:
    """Stacks `[n_b, 3]` sketches into zero-padded float32 `[B, max n_b, 3]` and lengths `[B]`."""
    lengths = np.fromiter((len(sketch) for sketch in sketches), dtype=np.int64,
                          count=len(sketches))
    padded = np.zeros((len(sketches), int(lengths.max()), 3), dtype=np.float32)
    for row, sketch in enumerate(sketches):
        padded[row, : len(sketch)] = sketch
    return padded, lengths


def _segment_cumsum(values: np.ndarray, segment: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Sequential (left-to-right) cumulative sums restarted at every segment, in values' dtype.

    Args:
        values: `[P, 2]` rows, segments contiguous.
        segment: int `[P]` segment id of each row (0, 1, ..., non-decreasing).
        position: int `[P]` index of the row within its segment.

    Returns:
        `[P, 2]`, bit-identical to a Python loop `acc += value` restarted at each segment.
    """
    if values.shape[0] == 0:
        return values.copy()
    grid = np.zeros((int(segment[-1]) + 1, int(position.max()) + 1, 2), dtype=values.dtype)
    grid[segment, position] = values
    return np.cumsum(grid, axis=1)[segment, position]


def _undo_stroke_shuffle(xy, pen, valid, lengths):
    """Upstream's two "stroke shuffle" loops (step B): nearly a no-op, replicated literally.

    Loop 1 makes every stroke start (rows 1..n-2) absolute; loop 2 turns them back into offsets
    with a running sum of the current values. In exact arithmetic this changes only sketches with a
    single-point first or last stroke (docs/differences.md#sg-q1); in float32 it also re-rounds
    stroke starts.
    """
    rows = np.arange(xy.shape[1])
    interior = (rows >= 1) & (rows <= lengths[:, None] - 2) & valid
    previous_pen = np.zeros_like(pen)
    previous_pen[:, 1:] = pen[:, :-1]
    made_absolute = interior & (previous_pen == 1)
    shuffled = np.where(made_absolute[..., None], np.cumsum(xy, axis=1), xy)
    subtract_after = interior & (pen == 1)
    if not subtract_after.any():
        return shuffled
    running = np.zeros((xy.shape[0], 2), dtype=np.float32)
    for step in range(int(np.flatnonzero(subtract_after.any(axis=0))[-1]) + 1):
        running += shuffled[:, step]
        hits = subtract_after[:, step]
        if hits.any():
            shuffled[hits, step + 1] -= running[hits]
    return shuffled


class BatchBuilder:
    """Builds fixed-shape batches from augmented sketches.

    Args:
        sizes: the padded sizes (T, L, N) and the node-length option.
    """

    def __init__(self, sizes: BatchSizes):
        self.sizes = sizes

    def build(self, sketches, bounds, prob: float, normals) -> dict:
        """Steps B–I for a list of sketches; see `build_padded` (`sketches[b]` is `[n_b, 3]`)."""
        padded, lengths = pad_sketches(sketches)
        return self.build_padded(padded, lengths, bounds, prob, normals)

    def build_padded(self, padded, lengths, bounds, prob: float, normals) -> dict:
        """Steps B–I for one batch.

        Args:
            padded: float32 `[B, W, 3]` normalised offsets (augmented if training), zero rows
                past each sketch's length.
            lengths: int `[B]` rows per sketch, each `<= T`.
            bounds: `[B]` noise bounds (larger side of the origin-inclusive box, step A).
            prob: reorganisation strength (`re_scale`; 0 for clean batches).
            normals: list of B float64 arrays `[noise_draws_needed(sketch)]` of standard normal
                draws (x then y for each moved stroke, in stroke order).

        Returns:
            Dict of numpy arrays (B = len(sketches), N, L, T from `sizes`):
            `input_seqs` float32 `[B, T+1, 5]` clean absolute stroke-5 targets with start token;
            `input_strokes` float32 `[B*N, L, 2]` node rows (absolute, reorganised), sample-major
            and packed, zero rows after the last node; `input_stroke_len` int32 `[B*N]`;
            `input_strokes_num` int32 `[B]`; `input_box` float32 `[B, N, N, 9]` relations of the
            reorganised layout; `box_ori` float32 `[B, N, N, 9]` relations of the clean layout;
            `seq_len` int32 `[B]` points per sketch.
        """
        sizes = self.sizes
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.max() > sizes.max_seq_len:
            raise ValueError(
                f"a sketch has {lengths.max()} points, more than max_seq_len={sizes.max_seq_len}"
            )
        valid = np.arange(padded.shape[1]) < lengths[:, None]
        pen = padded[..., 2]
        offsets = _undo_stroke_shuffle(padded[..., :2].copy(), pen, valid, lengths)
        clean = np.cumsum(offsets, axis=1)
        moved = self._reorganise(offsets, clean, pen, valid, lengths, bounds, prob, normals)
        noisy = self._absolute_with_moved_starts(moved, pen, valid)
        chunks = self._chunks(pen, valid)
        strokes, stroke_len, strokes_num, noisy_bounds = self._nodes(noisy, valid, chunks)
        _, _, _, clean_bounds = self._nodes(clean, valid, chunks, rows_needed=False)
        node_mask = np.arange(sizes.max_strokes_num) < strokes_num[:, None]
        return {
            "input_seqs": self._targets(clean, pen, lengths),
            "input_strokes": strokes,
            "input_stroke_len": stroke_len,
            "input_strokes_num": strokes_num.astype(np.int32),
            "input_box": relation_boxes(noisy_bounds, node_mask),
            "box_ori": relation_boxes(clean_bounds, node_mask),
            "seq_len": lengths.astype(np.int32),
        }

    @staticmethod
    def _reorganise(offsets, clean, pen, valid, lengths, bounds, prob, normals):
        """Step D: stroke starts after the first become absolute positions plus noise."""
        rows = np.arange(offsets.shape[1])
        starts = np.zeros_like(valid)
        starts[:, 1:] = (pen[:, :-1] == 1) & (rows[:-1] <= lengths[:, None] - 2)
        moved = offsets.copy()
        batch_index, row_index = np.nonzero(starts)
        noise = np.concatenate([np.asarray(n, dtype=np.float64) for n in normals] or [[]])
        noise = noise.reshape(-1, 2)
        scale = np.asarray(bounds, dtype=np.float64)[batch_index, None] * float(prob)
        moved[batch_index, row_index] = (
            clean[batch_index, row_index].astype(np.float64) + noise * scale
        ).astype(np.float32)
        return moved

    @staticmethod
    def _absolute_with_moved_starts(moved, pen, valid):
        """Step E: absolute positions, each stroke accumulated from its (moved) start."""
        batch_index, row_index = np.nonzero(valid)
        starts = np.ones_like(valid)
        starts[:, 1:] = pen[:, :-1] == 1
        flat_starts = starts[batch_index, row_index]
        segment = np.cumsum(flat_starts) - 1
        first = np.flatnonzero(flat_starts)
        position = np.arange(len(segment)) - first[segment]
        absolute = np.zeros_like(moved)
        absolute[batch_index, row_index] = _segment_cumsum(
            moved[batch_index, row_index], segment, position
        )
        return absolute

    def _chunks(self, pen, valid):
        """Step F: node boundaries. Returns per closed-node point arrays (see `_nodes`)."""
        chunk_points = self.sizes.max_stroke_len + 1
        batch, width = pen.shape
        rows = np.arange(width)
        stroke_start = np.ones_like(valid)
        stroke_start[:, 1:] = pen[:, :-1] == 1
        start_row = np.maximum.accumulate(np.where(stroke_start, rows, 0), axis=1)
        in_stroke = rows - start_row
        closes = valid & ((pen == 1) | (in_stroke % chunk_points == chunk_points - 1))
        # Rows after a sketch's last closing row belong to no node (upstream drops them).
        closes_after = np.cumsum(closes[:, ::-1], axis=1)[:, ::-1]
        in_node = valid & (closes_after > 0)
        batch_index, row_index = np.nonzero(in_node)
        node_start = np.ones_like(valid)
        node_start[:, 1:] = closes[:, :-1]
        flat_starts = node_start[batch_index, row_index]
        node = np.cumsum(flat_starts) - 1
        first = np.flatnonzero(flat_starts)
        position = np.arange(len(node)) - first[node]
        nodes_per_sketch = closes.sum(axis=1)
        node_sketch = np.repeat(np.arange(batch), nodes_per_sketch)
        node_rank = np.arange(len(node_sketch)) - np.repeat(
            np.cumsum(nodes_per_sketch) - nodes_per_sketch, nodes_per_sketch
        )
        return {
            "batch_index": batch_index,
            "row_index": row_index,
            "node": node,
            "position": position,
            "first": first,
            "node_sketch": node_sketch,
            "node_rank": node_rank,
            "nodes_per_sketch": nodes_per_sketch,
        }

    def _nodes(self, absolute, valid, chunks, rows_needed=True):
        """Steps G–H: node boxes and encoder rows from absolute positions.

        Each node's points go through upstream's round trip: differenced in float32 ("first point
        absolute, rest relative"), accumulated in float64 for the box bounds and in float32 for
        the encoder rows.
        """
        sizes = self.sizes
        batch = valid.shape[0]
        points = absolute[chunks["batch_index"], chunks["row_index"]]
        node, position = chunks["node"], chunks["position"]
        relative = points.copy()
        not_first = position > 0
        relative[not_first] = points[not_first] - points[np.flatnonzero(not_first) - 1]
        bounds_path = _segment_cumsum(relative.astype(np.float64), node, position)
        first = chunks["first"]
        bounds = np.stack(
            [
                np.minimum.reduceat(bounds_path[:, 0], first) if len(first) else np.zeros(0),
                np.maximum.reduceat(bounds_path[:, 0], first) if len(first) else np.zeros(0),
                np.minimum.reduceat(bounds_path[:, 1], first) if len(first) else np.zeros(0),
                np.maximum.reduceat(bounds_path[:, 1], first) if len(first) else np.zeros(0),
            ],
            axis=-1,
        )
        strokes_num = np.minimum(chunks["nodes_per_sketch"], sizes.max_strokes_num)
        kept = chunks["node_rank"] < sizes.max_strokes_num
        node_bounds = np.zeros((batch, sizes.max_strokes_num, 4), dtype=np.float64)
        node_bounds[chunks["node_sketch"][kept], chunks["node_rank"][kept]] = bounds[kept]
        if not rows_needed:
            return None, None, strokes_num, node_bounds
        encoded = _segment_cumsum(relative, node, position)
        flat_offset = np.cumsum(strokes_num) - strokes_num
        node_row = flat_offset[chunks["node_sketch"]] + chunks["node_rank"]
        point_row = node_row[node]
        point_kept = kept[node] & (position < sizes.max_stroke_len)
        strokes = np.zeros(
            (batch * sizes.max_strokes_num, sizes.max_stroke_len, 2), dtype=np.float32
        )
        strokes[point_row[point_kept], position[point_kept]] = encoded[point_kept]
        node_length = np.bincount(node, minlength=len(kept))
        few_nodes = chunks["nodes_per_sketch"][chunks["node_sketch"]] < sizes.max_strokes_num
        if sizes.clip_node_length:
            reported = np.minimum(node_length, sizes.max_stroke_len)
        else:
            reported = np.where(
                few_nodes, node_length, np.minimum(node_length, sizes.max_stroke_len)
            )
        stroke_len = np.zeros(batch * sizes.max_strokes_num, dtype=np.int32)
        stroke_len[node_row[kept]] = reported[kept]
        return strokes, stroke_len, strokes_num, node_bounds

    def _targets(self, clean, pen, lengths):
        """Stroke-5 targets `[B, T+1, 5]`: start token, absolute points, end padding."""
        sizes = self.sizes
        batch = len(lengths)
        targets = np.zeros((batch, sizes.max_seq_len + 1, 5), dtype=np.float32)
        targets[:, 0] = START_TOKEN
        steps = np.arange(1, sizes.max_seq_len + 1)
        is_point = steps[None, :] <= lengths[:, None]
        width = clean.shape[1]
        targets[:, 1 : width + 1, :2] = clean
        targets[:, 1 : width + 1, 3] = pen
        targets[:, 1:, 2] = np.where(is_point, 1.0 - targets[:, 1:, 3], 0.0)
        targets[:, 1:, 4] = ~is_point
        targets[:, 1:, :2] *= is_point[..., None]
        targets[:, 1:, 3] *= is_point
        return targets
