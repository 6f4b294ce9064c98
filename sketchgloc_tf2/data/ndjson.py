"""Quick, Draw! simplified `.ndjson` → sketch-rnn `.npz` (train/valid/test), deterministically.

Each input line is a JSON object with `word` (the category) and `drawing`: a list of strokes, each
`[[x0, x1, ...], [y0, y1, ...]]` in absolute pixel coordinates (a third list, the timestamps of
the raw format, is ignored). Every drawing becomes an int16 `[n_points, 3]` array of offsets with
`pen_lift = 1` on the last point of each stroke. The split is a seeded permutation of the drawings
sorted by `key_id` (or by line order when there is none), so the same files and seed always give
the same split.

Run `python -m sketchgloc_tf2.data.ndjson FILE.ndjson [...] --output_dir DIR
[--valid_fraction 0.05] [--test_fraction 0.05] [--seed 0] [--recognized_only] [--overwrite]`;
it writes `DIR/<word>.npz` per category and prints the written paths.

Bad input (each an `error: ...` line on stderr and exit status 1, before anything is written):

* an input file that cannot be read, or that holds no drawing (empty, blank lines only, or, with
  `--recognized_only`, no recognised drawing);
* a malformed line, named `FILE:LINE`: bad UTF-8, invalid JSON, not an object, a missing or
  non-string `word`, a missing `drawing`, no strokes, a stroke that is not `[[x...], [y...]]`,
  an empty stroke, x and y of different lengths, a coordinate that is not a finite number, or
  coordinates whose offsets do not fit int16;
* a category whose train split would be empty (too few drawings for the valid/test fractions);
* an `--output_dir` that is not a folder, or a `<word>.npz` already there (pass `--overwrite`).

A valid or test split that comes out empty although its fraction is positive (e.g. 3 drawings
with 5 % fractions) is a warning with the split sizes: the file is still written, as a small
category is legitimate input, but training needs a non-empty valid split.

Output names: a `word` is used as a file name, never as a path. Path separators (`/`, `\\`),
control characters and unencodable characters become `_`, leading dots and spaces are dropped, an
empty result becomes `unnamed`, over-long names are shortened, and a name already taken by another
word gets a `_2`, `_3`, ... suffix. Each renamed word is reported as a warning, and every output
is checked to resolve to a file directly inside `--output_dir`.
"""

import json
import math
import os
import tempfile
import unicodedata

import numpy as np
from absl import logging

from sketchgloc_tf2.errors import SketchConfigError, SketchDataError

MAX_NAME_BYTES = 200  # leaves room for ".npz" and the temporary-file affixes within 255 bytes
UNNAMED = "unnamed"


def _describe(value) -> str:
    """A short description of a JSON value for error messages."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _coordinates(values, axis: str, where: str) -> np.ndarray:
    """Checks one axis of a stroke (a non-empty list of finite numbers); float64 `[n]`."""
    if not isinstance(values, list):
        raise SketchDataError(f"{where}: {axis} must be a list of numbers, got "
                              f"{_describe(values)}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SketchDataError(f"{where}: {axis} holds the non-numeric coordinate "
                                  f"{_describe(value)}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise SketchDataError(f"{where}: {axis} holds a coordinate too large for a float") \
            from None
    if not np.all(np.isfinite(array)):
        raise SketchDataError(f"{where}: {axis} holds NaN or infinite coordinates")
    return array


def drawing_to_stroke3(drawing, where: str) -> np.ndarray:
    """Converts one simplified drawing to int16 stroke-3 offsets.

    Args:
        drawing: list of strokes `[[x0, ...], [y0, ...]]` (absolute pixel coordinates).
        where: `FILE:LINE` prefix of error messages.

    Returns:
        int16 `[n_points, 3]`: `(dx, dy, pen_lift)`, row 0 relative to the origin.

    Raises:
        SketchDataError: naming `where`, the stroke index and the problem.
    """
    if not isinstance(drawing, list):
        raise SketchDataError(f"{where}: 'drawing' must be a list of strokes, got "
                              f"{_describe(drawing)}")
    if not drawing:
        raise SketchDataError(f"{where}: 'drawing' has no strokes")
    rows = []
    for stroke_index, stroke in enumerate(drawing):
        at = f"{where}: stroke {stroke_index}"
        if not isinstance(stroke, list) or len(stroke) < 2:
            raise SketchDataError(f"{at} must be [[x...], [y...]], got {_describe(stroke)}")
        xs = _coordinates(stroke[0], "x", at)
        ys = _coordinates(stroke[1], "y", at)
        if len(xs) != len(ys):
            raise SketchDataError(f"{at} has {len(xs)} x but {len(ys)} y coordinates")
        if not len(xs):
            raise SketchDataError(f"{at} is empty (no points)")
        pen = np.zeros(len(xs))
        pen[-1] = 1
        rows.append(np.stack([xs, ys, pen], axis=1))
    absolute = np.concatenate(rows)
    offsets = absolute.copy()
    offsets[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    if np.abs(offsets[:, :2]).max() > np.iinfo(np.int16).max:
        raise SketchDataError(f"{where}: coordinates too large (offsets do not fit int16)")
    return np.round(offsets).astype(np.int16)


def _parse_line(raw: bytes, where: str, first: bool):
    """Decodes and parses one line; the JSON value, or None for a blank line."""
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as error:
        raise SketchDataError(f"{where}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at "
                              f"column {error.start + 1})") from None
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SketchDataError(f"{where}: not valid JSON ({error.msg} at column "
                              f"{error.colno})") from None
    except (ValueError, RecursionError) as error:
        raise SketchDataError(f"{where}: not valid JSON ({type(error).__name__}: "
                              f"{' '.join(str(error).split())})") from None


def read_ndjson(path: str, recognized_only: bool = False) -> dict:
    """Reads one file; returns category → list of `(key, stroke3)` in file order.

    Raises:
        SketchDataError: an unreadable file, a malformed line (named `path:line`), or a file
            without any (recognised) drawing.
    """
    by_word = {}
    skipped = 0
    try:
        with open(path, "rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                where = f"{path}:{line_number}"
                record = _parse_line(raw, where, line_number == 1)
                if record is None:
                    continue
                if not isinstance(record, dict):
                    raise SketchDataError(
                        f"{where}: expected a JSON object with 'word' and 'drawing', got "
                        f"{_describe(record)}")
                for field in ("word", "drawing"):
                    if field not in record:
                        raise SketchDataError(f"{where}: missing '{field}'")
                if not isinstance(record["word"], str):
                    raise SketchDataError(f"{where}: 'word' must be a string, got "
                                          f"{_describe(record['word'])}")
                if recognized_only and not record.get("recognized", True):
                    skipped += 1
                    continue
                key = str(record.get("key_id", f"{os.path.basename(path)}:{line_number:09d}"))
                by_word.setdefault(record["word"], []).append(
                    (key, drawing_to_stroke3(record["drawing"], where)))
    except OSError as error:
        raise SketchDataError(f"{path}: cannot read ({error.strerror or error})") from None
    if not by_word:
        if skipped:
            raise SketchDataError(f"{path}: none of its {skipped} drawings is recognised; "
                                  "drop --recognized_only or pass another file")
        raise SketchDataError(f"{path}: no drawings (the file is empty); pass a Quick, Draw! "
                              ".ndjson file with one drawing per line")
    return by_word


def _plain_file_stem(word: str) -> str:
    """`word` made a safe file name stem (no separators, control characters or leading dots)."""
    characters = []
    for character in word:
        category = unicodedata.category(character)
        unsafe = character in "/\\" or category in ("Cc", "Cs")
        characters.append("_" if unsafe else character)
    stem = "".join(characters).lstrip(". ").rstrip()
    while len(stem.encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem or UNNAMED


def output_names(words) -> dict:
    """File stems for the categories: a word is a file name, never a path.

    Words that are already safe names keep them; the others are sanitised (see the module
    docstring) and, if their name is taken, get a `_2`, `_3`, ... suffix.

    Args:
        words: iterable of distinct category strings.

    Returns:
        Dict word → file stem (the file is `<stem>.npz`); distinct stems.
    """
    words = sorted(words)
    names = {word: word for word in words if _plain_file_stem(word) == word}
    taken = set(names.values())
    for word in words:
        if word in names:
            continue
        stem = base = _plain_file_stem(word)
        suffix = 2
        while stem in taken:
            stem = f"{base}_{suffix}"
            suffix += 1
        names[word] = stem
        taken.add(stem)
    return names


def split_sizes(num_items: int, valid_fraction: float, test_fraction: float) -> dict:
    """Drawings per split: `{"train": n, "valid": n, "test": n}` (valid/test rounded)."""
    num_valid = int(round(valid_fraction * num_items))
    num_test = int(round(test_fraction * num_items))
    return {"train": num_items - num_valid - num_test, "valid": num_valid, "test": num_test}


def split_drawings(items, valid_fraction: float, test_fraction: float, seed: int) -> dict:
    """Deterministic train/valid/test split of `(key, stroke3)` items (object arrays)."""
    items = sorted(items, key=lambda item: item[0])
    order = np.random.RandomState(seed).permutation(len(items))
    sizes = split_sizes(len(items), valid_fraction, test_fraction)
    parts = {
        "test": order[:sizes["test"]],
        "valid": order[sizes["test"]:sizes["test"] + sizes["valid"]],
        "train": order[sizes["test"] + sizes["valid"]:],
    }
    result = {}
    for split, indices in parts.items():
        array = np.empty(len(indices), dtype=object)
        array[:] = [items[i][1] for i in sorted(indices)]
        result[split] = array
    return result


def _check_split_sizes(word, count, sources, valid_fraction, test_fraction):
    """Error for an empty train split; warning for an empty valid/test split asked for."""
    sizes = split_sizes(count, valid_fraction, test_fraction)
    summary = (f"category {word!r} ({', '.join(sources)}): {count} drawings give "
               f"{sizes['train']} train, {sizes['valid']} valid, {sizes['test']} test "
               f"(valid_fraction={valid_fraction}, test_fraction={test_fraction})")
    if sizes["train"] < 1:
        raise SketchDataError(f"{summary}; the train split would be empty, lower the fractions "
                              "or add drawings")
    empty = [split for split, fraction in (("valid", valid_fraction), ("test", test_fraction))
             if fraction > 0 and sizes[split] == 0]
    if empty:
        logging.warning("%s; the %s split(s) are empty (add drawings or raise the fractions)",
                        summary, " and ".join(empty))


def _prepare_output_dir(output_dir: str) -> str:
    """Creates `output_dir` if needed; returns its resolved path."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise SketchConfigError(f"--output_dir {output_dir}: exists and is not a folder; pass "
                                "a folder")
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise SketchConfigError(f"--output_dir {output_dir}: cannot create it "
                                f"({error.strerror or error})") from None
    return os.path.realpath(output_dir)


def _inside(folder: str, stem: str) -> str:
    """`folder/<stem>.npz`, asserted to be a file directly inside the resolved `folder`."""
    name = f"{stem}.npz"
    target = os.path.join(folder, name)
    if os.path.basename(name) != name or os.path.dirname(os.path.realpath(target)) != folder:
        raise SketchDataError(f"output name {name!r} would leave {folder}")
    return target


def _write_npz(target: str, arrays: dict) -> None:
    """Writes an npz through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp_",
                                         suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def convert(paths, output_dir: str, valid_fraction=0.05, test_fraction=0.05, seed=0,
            recognized_only=False, overwrite=False) -> list:
    """Converts ndjson files into `output_dir/<word>.npz`.

    Every input is read and checked, and every category's split sizes and output name are
    decided, before the first file is written.

    Args:
        paths: `.ndjson` files (categories spread over several files are merged).
        output_dir: created if needed.
        valid_fraction: share of each category's drawings in the valid split, in [0, 1).
        test_fraction: share in the test split; the two sum below 1.
        seed: seed of the split permutation.
        recognized_only: drop drawings with `"recognized": false`.
        overwrite: replace existing `<word>.npz` files (otherwise an error).

    Returns:
        The written paths, in category order.

    Raises:
        SketchDataError: a bad input (see the module docstring) or an empty train split.
        SketchConfigError: bad fractions or output folder, or an existing output file.
    """
    if not 0 <= seed < 2 ** 32:
        raise SketchConfigError(f"--seed {seed}: must be in [0, 2**32)")
    fractions = (valid_fraction, test_fraction)
    if not all(math.isfinite(f) and f >= 0 for f in fractions) or sum(fractions) >= 1:
        raise SketchConfigError(
            f"--valid_fraction {valid_fraction} and --test_fraction {test_fraction}: each must "
            "be >= 0 and their sum below 1")
    by_word, sources = {}, {}
    for path in paths:
        for word, items in read_ndjson(path, recognized_only).items():
            by_word.setdefault(word, []).extend(items)
            sources.setdefault(word, []).append(path)
    for word, items in sorted(by_word.items()):
        _check_split_sizes(word, len(items), sources[word], valid_fraction, test_fraction)
    folder = _prepare_output_dir(output_dir)
    names = output_names(by_word)
    targets = {word: _inside(folder, names[word]) for word in sorted(by_word)}
    for word, stem in sorted(names.items()):
        if stem != word:
            logging.warning("category %r is written as %s.npz (a word must be a plain file "
                            "name)", word, stem)
    folders = [target for target in targets.values()
               if os.path.isdir(target) and not os.path.islink(target)]
    if folders:
        raise SketchConfigError(f"{folders[0]} is a folder; remove it or pass another "
                                "--output_dir")
    existing = [target for target in targets.values() if os.path.lexists(target)]
    if existing and not overwrite:
        raise SketchConfigError(f"{existing[0]} already exists ({len(existing)} output file(s) "
                                "do); pass --overwrite to replace them or another --output_dir")
    written = []
    for word, target in targets.items():
        _write_npz(target, split_drawings(by_word[word], valid_fraction, test_fraction, seed))
        written.append(os.path.join(output_dir, os.path.basename(target)))
    return written


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_ndjson")
