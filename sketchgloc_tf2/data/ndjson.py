"""Quick, Draw! simplified `.ndjson` → sketch-rnn `.npz` (train/valid/test), deterministically.

Each input line is a JSON object with `word` (the category) and `drawing`: a list of strokes, each
`[[x0, x1, ...], [y0, y1, ...]]` in absolute pixel coordinates. Every drawing becomes an int16
`[n_points, 3]` array of offsets with `pen_lift = 1` on the last point of each stroke. The split is
a seeded permutation of the drawings sorted by `key_id` (or by line order when there is none), so
the same files and seed always give the same split.

Run `python -m sketchgloc_tf2.data.ndjson FILE.ndjson [...] --output_dir DIR
[--valid_fraction 0.05] [--test_fraction 0.05] [--seed 0] [--recognized_only]`; it writes
`DIR/<word>.npz` per category.
"""

import argparse
import json
import os
import sys

import numpy as np

from sketchgloc_tf2.errors import SketchDataError


def drawing_to_stroke3(drawing, where: str) -> np.ndarray:
    """Converts one simplified drawing to int16 stroke-3 offsets `[n, 3]`."""
    if not isinstance(drawing, list) or not drawing:
        raise SketchDataError(f"{where}: 'drawing' must be a non-empty list of strokes")
    rows = []
    for stroke_index, stroke in enumerate(drawing):
        if (not isinstance(stroke, list) or len(stroke) < 2 or len(stroke[0]) != len(stroke[1])
                or not stroke[0]):
            raise SketchDataError(
                f"{where}: stroke {stroke_index} must be [[x...], [y...]] of equal, non-zero "
                f"length")
        xs = np.asarray(stroke[0], dtype=np.float64)
        ys = np.asarray(stroke[1], dtype=np.float64)
        if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
            raise SketchDataError(f"{where}: stroke {stroke_index} has NaN or inf coordinates")
        pen = np.zeros(len(xs))
        pen[-1] = 1
        rows.append(np.stack([xs, ys, pen], axis=1))
    absolute = np.concatenate(rows)
    offsets = absolute.copy()
    offsets[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    if np.abs(offsets[:, :2]).max() > np.iinfo(np.int16).max:
        raise SketchDataError(f"{where}: coordinates do not fit int16")
    return np.round(offsets).astype(np.int16)


def read_ndjson(path: str, recognized_only: bool = False) -> dict:
    """Reads one file; returns category → list of `(key, stroke3)` in file order."""
    by_word = {}
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SketchDataError(f"{where}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "word" not in record or "drawing" not in record:
                raise SketchDataError(f"{where}: expected an object with 'word' and 'drawing'")
            if recognized_only and not record.get("recognized", True):
                continue
            key = str(record.get("key_id", f"{os.path.basename(path)}:{line_number:09d}"))
            by_word.setdefault(record["word"], []).append(
                (key, drawing_to_stroke3(record["drawing"], where)))
    return by_word


def split_drawings(items, valid_fraction: float, test_fraction: float, seed: int) -> dict:
    """Deterministic train/valid/test split of `(key, stroke3)` items."""
    items = sorted(items, key=lambda item: item[0])
    order = np.random.RandomState(seed).permutation(len(items))
    num_valid = int(round(valid_fraction * len(items)))
    num_test = int(round(test_fraction * len(items)))
    parts = {
        "test": order[:num_test],
        "valid": order[num_test:num_test + num_valid],
        "train": order[num_test + num_valid:],
    }
    result = {}
    for split, indices in parts.items():
        array = np.empty(len(indices), dtype=object)
        array[:] = [items[i][1] for i in sorted(indices)]
        result[split] = array
    return result


def convert(paths, output_dir: str, valid_fraction=0.05, test_fraction=0.05, seed=0,
            recognized_only=False) -> list:
    """Converts ndjson files into `output_dir/<word>.npz`; returns the written paths."""
    if valid_fraction < 0 or test_fraction < 0 or valid_fraction + test_fraction >= 1:
        raise SketchDataError("valid_fraction and test_fraction must be >= 0 and sum below 1")
    by_word = {}
    for path in paths:
        for word, items in read_ndjson(path, recognized_only).items():
            by_word.setdefault(word, []).extend(items)
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for word, items in sorted(by_word.items()):
        target = os.path.join(output_dir, f"{word}.npz")
        temporary = target + ".partial.npz"
        np.savez(temporary, **split_drawings(items, valid_fraction, test_fraction, seed))
        os.replace(temporary, target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sketchgloc_tf2.data.ndjson",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("ndjson", nargs="+", help="Quick, Draw! simplified .ndjson files")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--valid_fraction", type=float, default=0.05)
    parser.add_argument("--test_fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recognized_only", action="store_true")
    args = parser.parse_args(argv)
    try:
        written = convert(args.ndjson, args.output_dir, args.valid_fraction, args.test_fraction,
                          args.seed, args.recognized_only)
    except SketchDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
