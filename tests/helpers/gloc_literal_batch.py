"""A slow, literal per-row rendering of spec §2.7 steps B–I, used only to test `batching.py`.

It follows the specification's loops one row at a time with scalar float32/float64 arithmetic, so
the vectorised builder can be checked against it on any sizes, seeds and edge cases.
"""

import numpy as np


def _float32_rows(sketch):
    return [[np.float32(v) for v in row] for row in sketch]


def _chunk(rows_xy, pens, node_points):
    """Step F on absolute rows: list of chunks (lists of [x, y] float32)."""
    chunks, current, count = [], [], 0
    for xy, pen in zip(rows_xy, pens):
        current.append(list(xy))
        if pen == 1 or count == node_points - 1:
            chunks.append(current)
            current, count = [], 0
        else:
            count += 1
    return chunks


def _relative(chunk):
    out = [list(chunk[0])]
    for k in range(1, len(chunk)):
        out.append([np.float32(chunk[k][0] - chunk[k - 1][0]),
                    np.float32(chunk[k][1] - chunk[k - 1][1])])
    return out


def _bounds64(relative_chunk):
    x = y = 0.0
    lo_x = lo_y = 10000.0
    hi_x = hi_y = -10000.0
    for dx, dy in relative_chunk:
        x += float(dx)
        y += float(dy)
        lo_x, hi_x, lo_y, hi_y = min(lo_x, x), max(hi_x, x), min(lo_y, y), max(hi_y, y)
    return lo_x, hi_x, lo_y, hi_y


def _cell(value, low, high):
    return 0 if value < low else (2 if value > high else 1)


def _box(chunks, nodes):
    box = np.zeros((nodes, nodes, 3, 3), dtype=np.float32)
    count = min(nodes, len(chunks))
    bounds = [_bounds64(_relative(chunk)) for chunk in chunks[:count]]
    for i in range(count):
        lx, hx, ly, hy = bounds[i]
        for j in range(count):
            jx0, jx1, jy0, jy1 = bounds[j]
            xs, xe = _cell(jx0, lx, hx), _cell(jx1, lx, hx)
            ys, ye = _cell(jy0, ly, hy), _cell(jy1, ly, hy)
            box[i, j, xs, ys:ye + 1] = 1
            box[i, j, xs:xe + 1, ye] = 1
            box[i, j, xe, ys:ye + 1] = 1
            box[i, j, xs:xe + 1, ys] = 1
    return box.reshape(nodes, nodes, 9)


def literal_batch(sketches, bounds, prob, normals, seq_len, node_len, nodes, clip=True):
    """Same contract as `BatchBuilder.build`, one row at a time."""
    batch = len(sketches)
    targets = np.zeros((batch, seq_len + 1, 5), dtype=np.float32)
    rows_out, lengths_out, counts, boxes, boxes_ori = [], [], [], [], []
    for b, sketch in enumerate(sketches):
        x = _float32_rows(sketch)
        n = len(x)
        total = [np.float32(0), np.float32(0)]
        for i in range(n - 1):
            total = [total[0] + x[i][0], total[1] + x[i][1]]
            if i != 0 and x[i - 1][2] == 1:
                x[i][0], x[i][1] = total
        total = [np.float32(0), np.float32(0)]
        for i in range(n - 1):
            total = [total[0] + x[i][0], total[1] + x[i][1]]
            if i != 0 and x[i][2] == 1:
                x[i + 1][0] = np.float32(x[i + 1][0] - total[0])
                x[i + 1][1] = np.float32(x[i + 1][1] - total[1])
        clean = [list(row) for row in x]
        for i in range(n - 1):
            clean[i + 1][0] = np.float32(clean[i + 1][0] + clean[i][0])
            clean[i + 1][1] = np.float32(clean[i + 1][1] + clean[i][1])
        moved = [list(row) for row in x]
        draws = iter(normals[b])
        for i in range(n - 1):
            if x[i][2] == 1:
                for axis in range(2):
                    moved[i + 1][axis] = np.float32(
                        float(clean[i + 1][axis]) + next(draws) * bounds[b] * prob)
        noisy = [list(row) for row in moved]
        acc = [np.float32(0), np.float32(0)]
        for i in range(n):
            if i != 0 and moved[i - 1][2] == 1:
                acc = [moved[i][0], moved[i][1]]
            else:
                acc = [np.float32(acc[0] + moved[i][0]), np.float32(acc[1] + moved[i][1])]
            noisy[i][0], noisy[i][1] = acc
        pens = [row[2] for row in x]
        chunks = _chunk([row[:2] for row in noisy], pens, node_len + 1)
        chunks_ori = _chunk([row[:2] for row in clean], pens, node_len + 1)
        boxes.append(_box(chunks, nodes))
        boxes_ori.append(_box(chunks_ori, nodes))
        counts.append(min(nodes, len(chunks)))
        for chunk in chunks[:nodes]:
            rel = _relative(chunk)
            acc = [rel[0][0], rel[0][1]]
            encoded = [list(acc)]
            for dx, dy in rel[1:]:
                acc = [np.float32(acc[0] + dx), np.float32(acc[1] + dy)]
                encoded.append(list(acc))
            row = np.zeros((node_len, 2), dtype=np.float32)
            row[: min(node_len, len(encoded))] = encoded[:node_len]
            rows_out.append(row)
            if len(chunks) < nodes and not clip:
                lengths_out.append(len(chunk))
            else:
                lengths_out.append(min(node_len, len(chunk)))
        targets[b, 0] = (0, 0, 1, 0, 0)
        for i in range(n):
            targets[b, i + 1] = (clean[i][0], clean[i][1], 1 - pens[i], pens[i], 0)
        targets[b, n + 1:, 4] = 1
    strokes = np.zeros((batch * nodes, node_len, 2), dtype=np.float32)
    stroke_len = np.zeros(batch * nodes, dtype=np.int32)
    strokes[: len(rows_out)] = rows_out
    stroke_len[: len(lengths_out)] = lengths_out
    return {
        "input_seqs": targets,
        "input_strokes": strokes,
        "input_stroke_len": stroke_len,
        "input_strokes_num": np.asarray(counts, dtype=np.int32),
        "input_box": np.stack(boxes),
        "box_ori": np.stack(boxes_ori),
        "seq_len": np.asarray([len(s) for s in sketches], dtype=np.int32),
    }
