"""The SketchGloc encoder batch built with TensorFlow ops only (for exported serving graphs).

`encoder_batch` turns raw stroke-3 sketches (original Quick, Draw! units) into the four encoder
inputs, exactly as the numpy path does for a clean batch (PROB 0): clipping to ±1000 and division
by the normalising scale factor (`quickdraw.load_data` + `quickdraw.normalize`), then
docs/differences.md#sg-2-7 steps B, D–H as implemented by `batching.BatchBuilder.build_padded`
(upstream's two stroke "shuffle" loops, stroke starts re-anchored on their absolute positions, nodes
= chunks of up to L+1 points of a stroke, node rows = the first L absolute points, node lengths,
node counts and the nine-relation boxes of the node bounding boxes).

Every sequential numpy accumulation (`np.cumsum`, the shuffle loop, the per-stroke and per-node
running sums in float32 and float64) is one `tf.scan` step per row, in the same order and dtype,
so the result equals the numpy batch to the bit (zeros may differ in sign only).
"""

import numpy as np
import tensorflow as tf

from sketchgloc_tf2.data.batching import BatchSizes
from sketchgloc_tf2.data.quickdraw import CLIP_LIMIT

NUM_RELATIONS = 9


def normalize_sketches(strokes, lengths, scale_factor: float):
    """Clips and normalises raw sketches; rows past each length become zero.

    Args:
        strokes: float32 `[B, P, 3]` rows (dx, dy, pen_lift), original units.
        lengths: int32 `[B]` rows per sketch, each in [0, P].
        scale_factor: `normalizing_scale_factor` of the model (original units per unit).

    Returns:
        `(offsets [B, P, 2] float32, pen [B, P] float32, valid [B, P] bool)`.
    """
    clipped = tf.clip_by_value(strokes, -CLIP_LIMIT, CLIP_LIMIT)
    valid = tf.sequence_mask(lengths, tf.shape(strokes)[1])
    divisor = tf.constant(np.float32(scale_factor) + np.float32(1e-10))
    # divide_no_nan: Grappler rewrites a division by a constant into a (differently rounded)
    # multiplication by its reciprocal; this op it leaves alone. The divisor is never 0.
    offsets = tf.where(valid[..., None], tf.math.divide_no_nan(clipped[..., :2], divisor), 0.0)
    pen = tf.where(valid, clipped[..., 2], 0.0)
    return offsets, pen, valid


def _row_flags(pen, valid, lengths):
    """Per-row booleans of the numpy builder's masks, `[B, P]` each."""
    width = tf.shape(pen)[1]
    rows = tf.range(width)[None, :]
    lifted = pen == 1.0
    after_lift = tf.pad(lifted[:, :-1], [[0, 0], [1, 0]])
    interior = (rows >= 1) & (rows <= lengths[:, None] - 2)
    return {
        # Loop 1 of the shuffle makes these stroke starts absolute ...
        "made_absolute": interior & after_lift,
        # ... loop 2 subtracts its running sum from the row after these.
        "subtract_before": tf.pad((interior & lifted)[:, :-1], [[0, 0], [1, 0]]),
        # Step D: stroke starts after the first sit at their absolute position.
        "moved_start": after_lift & (rows <= lengths[:, None] - 1),
        "stroke_start": after_lift | (rows == 0),
        "valid": valid,
        "pen_lift": lifted,
    }


def _scan_rows(offsets, pen, valid, lengths, chunk_points: int):
    """Runs steps B and D–F and the per-node accumulations row by row.

    Returns:
        Dict of `[B, P]` (or `[B, P, 2]`) tensors: `node_points` float32 (the point as the
        encoder sees it), `bounds_path` float64 (the point as the box bounds see it), `node_id`
        and `node_position` int32 (node index within the sketch and point index within the
        node), `closes` bool (the row ends a node); and `num_nodes [B]` int32.
    """
    flags = _row_flags(pen, valid, lengths)
    names = sorted(flags)
    elements = [tf.transpose(offsets, [1, 0, 2])] + [tf.transpose(flags[n]) for n in names]
    batch = tf.shape(offsets)[0]
    zeros32 = tf.zeros([batch, 2], tf.float32)
    zeros_int = tf.zeros([batch], tf.int32)
    initial = {
        "cumsum": zeros32, "running": zeros32, "clean": zeros32, "noisy": zeros32,
        "node_points": zeros32, "bounds_path": tf.zeros([batch, 2], tf.float64),
        "in_stroke": zeros_int, "node_position": zeros_int, "node_id": zeros_int,
        "num_nodes": zeros_int, "closes": tf.ones([batch], tf.bool),
    }

    def step(state, element):
        offset, row = element[0], dict(zip(names, element[1:]))
        cumsum = state["cumsum"] + offset
        shuffled = tf.where(row["made_absolute"][:, None], cumsum, offset)
        offset = tf.where(row["subtract_before"][:, None], shuffled - state["running"], shuffled)
        clean = state["clean"] + offset
        moved = tf.where(row["moved_start"][:, None], clean, offset)
        start = row["stroke_start"]
        noisy = tf.where(start[:, None], moved, state["noisy"] + moved)
        in_stroke = tf.where(start, 0, state["in_stroke"] + 1)
        node_start = state["closes"]
        relative = tf.where(node_start[:, None], noisy, noisy - state["noisy"])
        closes = row["valid"] & (row["pen_lift"] | (in_stroke % chunk_points == chunk_points - 1))
        return {
            "cumsum": cumsum,
            "running": state["running"] + offset,
            "clean": clean,
            "noisy": noisy,
            "node_points": tf.where(
                node_start[:, None], relative, state["node_points"] + relative),
            "bounds_path": tf.where(
                node_start[:, None], tf.cast(relative, tf.float64),
                state["bounds_path"] + tf.cast(relative, tf.float64)),
            "in_stroke": in_stroke,
            "node_position": tf.where(node_start, 0, state["node_position"] + 1),
            "node_id": state["num_nodes"],
            "num_nodes": state["num_nodes"] + tf.cast(closes, tf.int32),
            "closes": closes,
        }

    scanned = tf.scan(step, elements, initializer=initial)
    keys = ("node_points", "bounds_path", "node_id", "node_position", "closes")
    outputs = {key: _batch_major(scanned[key]) for key in keys}
    outputs["num_nodes"] = scanned["num_nodes"][-1]
    return outputs


def _batch_major(values):
    """`[P, B, ...]` -> `[B, P, ...]`."""
    return tf.transpose(values, [1, 0] + list(range(2, values.shape.rank)))


def relation_boxes(bounds, node_mask):
    """The nine-relation adjacency (TF version of `relation_boxes.relation_boxes`).

    Args:
        bounds: float64 `[B, N, 4]` node boxes `(min_x, max_x, min_y, max_y)`.
        node_mask: bool `[B, N]`, the nodes that exist.

    Returns:
        float32 `[B, N, N, 9]`: `[b, i, j, 3 gx + gy]` = 1 when the border of the grid-cell
        rectangle spanned by node j's corners in node i's 3×3 grid covers cell `(gx, gy)`.
    """
    min_x, max_x, min_y, max_y = tf.unstack(bounds, axis=-1)

    def cell(values, low, high):
        values, low, high = values[:, None, :, None], low[:, :, None, None], high[:, :, None, None]
        return 1 + tf.cast(values > high, tf.int32) - tf.cast(values < low, tf.int32)

    x_start, x_end = cell(min_x, min_x, max_x), cell(max_x, min_x, max_x)
    y_start, y_end = cell(min_y, min_y, max_y), cell(max_y, min_y, max_y)
    channel = tf.range(NUM_RELATIONS)
    grid_x, grid_y = channel // 3, channel % 3
    inside_x = (x_start <= grid_x) & (grid_x <= x_end)
    inside_y = (y_start <= grid_y) & (grid_y <= y_end)
    border_x = (grid_x == x_start) | (grid_x == x_end)
    border_y = (grid_y == y_start) | (grid_y == y_end)
    pairs = node_mask[:, :, None, None] & node_mask[:, None, :, None]
    return tf.cast(((border_x & inside_y) | (border_y & inside_x)) & pairs, tf.float32)


def _scatter(shape, indices, updates):
    return tf.tensor_scatter_nd_update(tf.zeros(shape, updates.dtype), indices, updates)


def encoder_batch(strokes, lengths, scale_factor: float, sizes: BatchSizes) -> dict:
    """The encoder inputs of raw sketches (see the module docstring).

    Args:
        strokes: float32 `[B, P, 3]` rows (dx, dy, pen_lift) in original Quick, Draw! units;
            rows past `lengths[b]` are ignored.
        lengths: int32 `[B]` rows per sketch, in [0, P] (not checked here).
        scale_factor: the model's `normalizing_scale_factor`.
        sizes: L = `max_stroke_len`, N = `max_strokes_num` and `clip_node_length` (T unused).

    Returns:
        Dict like `BatchBuilder.build_padded`'s (with B and N, L static when B is):
        `input_strokes` float32 `[B*N, L, 2]` node rows, absolute normalised points, packed
        sample-major with zero rows after the last node; `input_stroke_len` int32 `[B*N]`;
        `input_strokes_num` int32 `[B]`; `input_box` float32 `[B, N, N, 9]`.
    """
    nodes, points = sizes.max_strokes_num, sizes.max_stroke_len
    lengths = tf.cast(lengths, tf.int32)
    # One zero row past the widest sketch keeps the scan non-empty (P may be 0).
    strokes = tf.pad(tf.convert_to_tensor(strokes, tf.float32), [[0, 0], [0, 1], [0, 0]])
    batch = strokes.shape[0] if strokes.shape[0] is not None else tf.shape(strokes)[0]
    offsets, pen, valid = normalize_sketches(strokes, lengths, scale_factor)
    rows = _scan_rows(offsets, pen, valid, lengths, points + 1)
    node_id, position = rows["node_id"], rows["node_position"]
    num_nodes = tf.minimum(rows["num_nodes"], nodes)
    in_kept_node = valid & (node_id < num_nodes[:, None])

    encoded = tf.where(in_kept_node & (position < points))
    node_rows = _scatter(
        [batch, nodes, points, 2],
        tf.stack([encoded[:, 0], tf.cast(tf.gather_nd(node_id, encoded), tf.int64),
                  tf.cast(tf.gather_nd(position, encoded), tf.int64)], axis=1),
        tf.gather_nd(rows["node_points"], encoded))

    closing = tf.where(rows["closes"] & (node_id < nodes))
    node_length = tf.gather_nd(position, closing) + 1
    if sizes.clip_node_length:
        node_length = tf.minimum(node_length, points)
    else:
        few_nodes = tf.gather(rows["num_nodes"] < nodes, closing[:, 0])
        node_length = tf.where(few_nodes, node_length, tf.minimum(node_length, points))
    node_index = tf.stack(
        [closing[:, 0], tf.cast(tf.gather_nd(node_id, closing), tf.int64)], axis=1)
    node_lengths = _scatter([batch, nodes], node_index, node_length)

    segment = tf.where(in_kept_node, tf.range(batch)[:, None] * nodes + node_id, batch * nodes)
    path = rows["bounds_path"]
    low = tf.math.unsorted_segment_min(path, segment, batch * nodes + 1)[:-1]
    high = tf.math.unsorted_segment_max(path, segment, batch * nodes + 1)[:-1]
    bounds = tf.reshape(tf.stack([low[:, 0], high[:, 0], low[:, 1], high[:, 1]], axis=1),
                        [batch, nodes, 4])
    node_mask = tf.range(nodes)[None, :] < num_nodes[:, None]

    packed_row = tf.cumsum(num_nodes, exclusive=True)[:, None] + tf.range(nodes)[None, :]
    packed = tf.boolean_mask(packed_row, node_mask)[:, None]
    flat_rows = batch * nodes
    return {
        "input_strokes": _scatter([flat_rows, points, 2], packed,
                                  tf.boolean_mask(node_rows, node_mask)),
        "input_stroke_len": _scatter([flat_rows], packed, tf.boolean_mask(node_lengths, node_mask)),
        "input_strokes_num": num_nodes,
        "input_box": relation_boxes(bounds, node_mask),
    }
