"""A small procedural sketch dataset in sketch-rnn `.npz` layout, for the demo and the tests.

Four categories of hand-drawn-looking shapes (`circle`, `face`, `house`, `star`) with random size,
aspect, position, rotation and jitter, written as `<category>.npz` with `train`/`valid`/`test`
object arrays of int16 `[n_points, 3]` offsets, like the Quick, Draw! release.

Run `python -m sketchgloc_tf2.data.synthetic OUTPUT_DIR [--per_category 200] [--seed 0]`.
"""

import os

import numpy as np

CATEGORIES = ("circle", "face", "house", "star")
SPLIT_FRACTIONS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))


def _arc(rng, center, radius_x, radius_y, start, stop, points):
    angles = np.linspace(start, stop, points)
    wobble = 1.0 + rng.normal(0.0, 0.03, points)
    return np.stack([center[0] + radius_x * wobble * np.cos(angles),
                     center[1] + radius_y * wobble * np.sin(angles)], axis=1)


def _polyline(rng, corners, points_per_edge):
    corners = np.asarray(corners, dtype=np.float64)
    pieces = [
        np.linspace(corners[k], corners[k + 1], points_per_edge, endpoint=False)
        for k in range(len(corners) - 1)
    ]
    line = np.concatenate(pieces + [corners[-1:]])
    return line + rng.normal(0.0, 1.0, line.shape)


def _circle(rng):
    radius = rng.uniform(40, 90)
    start = rng.uniform(0, 2 * np.pi)
    return [_arc(rng, (0, 0), radius, radius * rng.uniform(0.7, 1.3), start,
                 start + 2 * np.pi, rng.integers(16, 30))]


def _face(rng):
    radius = rng.uniform(60, 90)
    head = _arc(rng, (0, 0), radius, radius * rng.uniform(0.9, 1.2), 0, 2 * np.pi,
                rng.integers(18, 28))
    eye_y = -radius * 0.3
    eyes = [_arc(rng, (side * radius * 0.35, eye_y), radius * 0.1, radius * 0.1, 0, 2 * np.pi,
                 6) for side in (-1, 1)]
    mouth = _arc(rng, (0, radius * 0.15), radius * 0.45, radius * 0.35, 0.2, np.pi - 0.2, 8)
    return [head, *eyes, mouth]


def _house(rng):
    width, height = rng.uniform(70, 120), rng.uniform(60, 100)
    left, top = -width / 2, -height / 3
    body = _polyline(rng, [(left, top), (left, top + height), (left + width, top + height),
                           (left + width, top), (left, top)], 4)
    roof = _polyline(rng, [(left, top), (0, top - rng.uniform(40, 70)), (left + width, top)], 4)
    door_w = width * 0.2
    door = _polyline(rng, [(-door_w / 2, top + height), (-door_w / 2, top + height * 0.55),
                           (door_w / 2, top + height * 0.55), (door_w / 2, top + height)], 2)
    return [body, roof, door]


def _star(rng):
    outer, inner = rng.uniform(60, 100), rng.uniform(25, 40)
    rotation = rng.uniform(0, 2 * np.pi)
    angles = rotation + np.arange(11) * np.pi / 5
    radii = np.where(np.arange(11) % 2 == 0, outer, inner)
    corners = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return [_polyline(rng, corners, 2)]


_DRAWERS = {"circle": _circle, "face": _face, "house": _house, "star": _star}


def strokes_to_offsets(strokes) -> np.ndarray:
    """Absolute polylines → int16 stroke-3 offsets `[n, 3]` (pen lift on each stroke's last row)."""
    rows = []
    for stroke in strokes:
        pen = np.zeros((len(stroke), 1))
        pen[-1] = 1
        rows.append(np.concatenate([np.round(stroke), pen], axis=1))
    absolute = np.concatenate(rows)
    offsets = absolute.copy()
    offsets[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    keep = np.ones(len(offsets), dtype=bool)
    keep[1:] = np.any(offsets[1:, :2] != 0, axis=1) | (offsets[1:, 2] == 1)
    absolute_kept = absolute[keep]
    result = absolute_kept.copy()
    result[1:, :2] = absolute_kept[1:, :2] - absolute_kept[:-1, :2]
    return result.astype(np.int16)


def draw(category: str, rng: np.random.Generator) -> np.ndarray:
    """One random sketch of `category` as int16 stroke-3 offsets."""
    strokes = _DRAWERS[category](rng)
    angle = rng.normal(0.0, 0.15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-20, 20, size=2)
    scale = rng.uniform(0.8, 1.2, size=2)
    return strokes_to_offsets([(s @ rotation.T) * scale + shift for s in strokes])


def write_dataset(output_dir: str, per_category: int = 200, seed: int = 0,
                  categories=CATEGORIES) -> list:
    """Writes `<category>.npz` for each category; returns the written paths."""
    os.makedirs(output_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for category in categories:
        sketches = [draw(category, rng) for _ in range(per_category)]
        splits, start = {}, 0
        for index, (split, fraction) in enumerate(SPLIT_FRACTIONS):
            stop = per_category if index == len(SPLIT_FRACTIONS) - 1 else start + int(
                round(fraction * per_category))
            array = np.empty(stop - start, dtype=object)
            array[:] = sketches[start:stop]
            splits[split] = array
            start = stop
        path = os.path.join(output_dir, f"{category}.npz")
        np.savez(path, **splits)
        paths.append(path)
    return paths


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_synthetic")
