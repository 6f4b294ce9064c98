"""Quick, Draw! sketch-rnn `.npz` I/O, validation, dataset-wide sizes and normalisation.

A category file `<name>.npz` holds `train`, `valid` and `test`: object arrays of integer arrays of
shape `[n_points, 3]` with columns `(dx, dy, pen_lift)` (offsets from the previous point; row 0 is
the offset from the origin; `pen_lift = 1` on the last point of every stroke). This module loads
them with upstream semantics (docs/differences.md#sg-2-2 to #sg-2-5): per-category slices of
`num_per_category`, category-major concatenation, clipping to ±1000, float32, and division by the
population standard deviation of every dx and dy value of the training split.
"""

import dataclasses
import os

import numpy as np
from absl import logging

from sketch_common.safe_pickle import MalformedFileError, UnsafeFileError, load_npz
from sketchgloc_tf2.errors import SketchDataError

SPLITS = ("train", "valid", "test")
CLIP_LIMIT = 1000.0


@dataclasses.dataclass
class SketchSplit:
    """One split of the concatenated categories.

    Attributes:
        strokes: list of float32 arrays `[n_points, 3]` (dx, dy, pen_lift); offsets in normalised
            units once `normalize` has run, raw Quick, Draw! units before.
        labels: int32 `[num_sketches]`, the category index of each sketch (category order).
        sources: list of `(file_path, index_in_file)` per sketch, for error messages.
    """

    strokes: list
    labels: np.ndarray
    sources: list

    def __len__(self):
        return len(self.strokes)

    def category_offsets(self) -> np.ndarray:
        """Index of the first sketch of each category: int64 `[num_categories + 1]`."""
        counts = np.bincount(self.labels, minlength=int(self.labels.max(initial=-1)) + 1)
        return np.concatenate([[0], np.cumsum(counts)])


def category_path(data_dir: str, category: str) -> str:
    """Path of `<category>.npz`; raises `SketchDataError` listing what is available."""
    path = os.path.join(data_dir, category + ".npz")
    if os.path.isfile(path):
        return path
    available = sorted(
        name[:-4] for name in os.listdir(data_dir) if name.endswith(".npz")
    ) if os.path.isdir(data_dir) else []
    hint = (
        f"available categories there: {', '.join(available)}"
        if available
        else "that folder has no .npz files" if os.path.isdir(data_dir)
        else "that folder does not exist"
    )
    raise SketchDataError(
        f"{path}: category file not found ({hint}). Pass --data_dir with the folder of the "
        f"sketch-rnn .npz files, or fix categories=[...]."
    )


def validate_sketch(sketch, path: str, split: str, index: int) -> np.ndarray:
    """Checks one raw sketch and returns it as an array `[n_points, 3]`.

    Raises:
        SketchDataError: naming file, split and index, for a wrong shape or dtype, NaN/inf, an
            empty sketch or a pen column that is not 0/1.
    """
    where = f"{path} [{split}][{index}]"
    try:
        array = np.asarray(sketch)
    except (TypeError, ValueError) as error:
        raise SketchDataError(f"{where}: not an array of shape [n, 3] ({error})") from None
    if array.ndim != 2 or array.shape[1] != 3:
        raise SketchDataError(
            f"{where}: expected shape [n_points, 3] (dx, dy, pen_lift), got {array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise SketchDataError(f"{where}: expected a numeric dtype, got {array.dtype}")
    if array.shape[0] == 0:
        raise SketchDataError(f"{where}: empty sketch (0 points); remove it from the file")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad_row = int(np.argwhere(~np.isfinite(array))[0, 0])
        raise SketchDataError(f"{where}: NaN or inf at row {bad_row}")
    pen = array[:, 2]
    if not np.all((pen == 0) | (pen == 1)):
        bad_row = int(np.argwhere((pen != 0) & (pen != 1))[0, 0])
        raise SketchDataError(
            f"{where}: pen_lift column must be 0 or 1, row {bad_row} has {pen[bad_row]}"
        )
    return array


def load_category(path: str, num_per_category: int) -> dict:
    """Loads and validates the three splits of one category file (first `num_per_category` each).

    Returns:
        Dict split name → list of raw arrays `[n_points, 3]`.
    """
    try:
        archive = load_npz(path)
    except (UnsafeFileError, MalformedFileError) as error:
        raise SketchDataError(str(error)) from None
    missing = [split for split in SPLITS if split not in archive]
    if missing:
        raise SketchDataError(
            f"{path}: missing split(s) {', '.join(missing)}; a sketch-rnn .npz needs "
            f"the keys train, valid and test (found: {', '.join(archive)})"
        )
    raw = {split: archive[split][:num_per_category] for split in SPLITS}
    splits = {}
    for split in SPLITS:
        sketches = [
            validate_sketch(sketch, path, split, index) for index, sketch in enumerate(raw[split])
        ]
        unfinished = sum(int(sketch[-1, 2]) != 1 for sketch in sketches)
        if unfinished:
            logging.warning(
                "%s [%s]: %d sketch(es) do not end with a pen lift; like upstream, their last "
                "unfinished stroke is not turned into a graph node.", path, split, unfinished,
            )
        splits[split] = sketches
    return splits


def load_data(data_dir: str, categories, num_per_category: int) -> dict:
    """Loads every category (in order, which is the label order) and concatenates the splits.

    Args:
        data_dir: folder with `<category>.npz` files.
        categories: list of category names (file names without `.npz`).
        num_per_category: slice size taken from each split of each file.

    Returns:
        Dict split name → `SketchSplit` with clipped float32 strokes in raw units.
    """
    if not categories:
        raise SketchDataError("categories is empty: name at least one category")
    collected = {split: ([], [], []) for split in SPLITS}
    for label, category in enumerate(categories):
        path = category_path(data_dir, category)
        splits = load_category(path, num_per_category)
        logging.info("Loaded sequences %s from %s", "/".join(
            str(len(splits[split])) for split in SPLITS), os.path.basename(path))
        for split in SPLITS:
            strokes, labels, sources = collected[split]
            for index, sketch in enumerate(splits[split]):
                clipped = np.clip(sketch, -CLIP_LIMIT, CLIP_LIMIT).astype(np.float32)
                strokes.append(clipped)
                sources.append((path, index))
            labels.extend([label] * len(splits[split]))
    return {
        split: SketchSplit(strokes, np.asarray(labels, dtype=np.int32), sources)
        for split, (strokes, labels, sources) in collected.items()
    }


def compute_sizes(all_strokes) -> tuple:
    """Upstream's dataset-wide sizes (docs/differences.md#sg-2-3).

    Args:
        all_strokes: every sketch of train + valid + test, arrays `[n_points, 3]`.

    Returns:
        `(max_seq_len, max_stroke_len, max_strokes_num)`: the true maximum number of points, and
        the elements at index `floor(0.999 * count)` of the sorted stroke lengths and of the sorted
        per-sketch stroke counts (strokes = runs ending with a pen lift).
    """
    max_seq_len = max(len(sketch) for sketch in all_strokes)
    stroke_lengths, stroke_counts = [], []
    for sketch in all_strokes:
        ends = np.flatnonzero(sketch[:, 2])
        stroke_counts.append(len(ends))
        stroke_lengths.append(np.diff(np.concatenate([[-1], ends])))
    lengths = np.sort(np.concatenate(stroke_lengths))
    counts = np.sort(np.asarray(stroke_counts))
    if lengths.size == 0:
        raise SketchDataError("no sketch has a pen lift: cannot cut strokes into graph nodes")
    max_stroke_len = int(lengths[int(0.999 * len(lengths))])
    max_strokes_num = int(counts[int(0.999 * len(counts))])
    return max_seq_len, max_stroke_len, max_strokes_num


def normalizing_scale_factor(train_strokes) -> np.float32:
    """Population std (float32, as upstream) of every dx and dy value of the training split."""
    values = np.concatenate([sketch[:, :2].reshape(-1) for sketch in train_strokes])
    return np.std(values.astype(np.float32))


def normalize(split: SketchSplit, scale_factor) -> SketchSplit:
    """Returns a copy of `split` with dx, dy divided by `scale_factor` (float32, as upstream)."""
    divisor = np.float32(scale_factor) + np.float32(1e-10)
    strokes = []
    for sketch in split.strokes:
        scaled = sketch.copy()
        scaled[:, :2] /= divisor
        strokes.append(scaled)
    return SketchSplit(strokes, split.labels, split.sources)
