"""The QuickDraw memmap file format (spec §2.2): layout constants, offsets and sum-file readers.

File layout (identical to upstream's `generate_dataset.py`, so memmaps built by either tool load
in both):

* `<output_dir>/memmap/<cls>_<split>.dat`: raw C-order int16 array [rows, 3] (no header), the
  stroke-3 sketches of one class and split concatenated in file order (`split` in train, valid,
  test). `<cls>` is the npz file name minus its last 4 characters (`cat.full.npz` → `cat.full`).
* `<output_dir>/offsets.npz`: an `.npz` archive with one int64 array [n, 2] of half-open
  `(start, end)` row ranges per split and class, under the key `<split>/<cls>`. Upstream wrote a
  *pickle* (despite the name) of `{'train': {cls: [(start, end), ...]}, 'valid': {...},
  'test': {...}}`; `read_offsets` still reads such files, through an unpickler that admits plain
  data and numpy arrays and scalars only, so loading one never runs code. (Upstream's loader
  cannot read the `.npz` form, as it unpickles the file.)
* `<output_dir>/memmap_sum.txt`: one line per class, `<path of memmap/<cls>.dat>\t<count>`; the
  loader inserts `_<split>` before `.dat`. This builder writes the path relative to the sum
  file's folder and the true number of sketches; upstream wrote a CWD-relative path and an
  accumulated count (never read).

The builder is `bert_tf2.data.memmap_builder`, the split-leak audit `bert_tf2.data.split_leaks`,
the readers of sketches `bert_tf2.data.sketch_collections`; the command line
`python -m bert_tf2.data.memmap` (`flags/bert_memmap.py`).
"""

import io
import os
import zipfile

import numpy as np

from bert_tf2.errors import BertDataError
from sketch_common.safe_pickle import MalformedFileError, UnsafeFileError, load_npz, load_pickle

SPLITS = ("train", "valid", "test")
MEMMAP_DTYPE = np.int16
SUM_FILE_NAME = "memmap_sum.txt"
OFFSETS_FILE_NAME = "offsets.npz"
MEMMAP_DIR_NAME = "memmap"


def class_name_from_path(path: str) -> str:
    """Upstream class name: file name minus directory and minus its last 4 characters."""
    return os.path.basename(path)[:-4]


def split_data_path(class_path: str, split: str) -> str:
    """`memmap/<cls>.dat` → `memmap/<cls>_<split>.dat` (only the suffix is replaced)."""
    stem = class_path[:-4] if class_path.endswith(".dat") else class_path
    return f"{stem}_{split}.dat"


def offsets_to_npz(offsets: dict) -> bytes:
    """The `.npz` bytes of `{split: {cls: [(start, end), ...]}}`: int64 [n, 2] per `split/cls`."""
    arrays = {f"{split}/{cls_name}": np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
              for split, classes in offsets.items() for cls_name, pairs in classes.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_offsets(offset_path: str) -> dict:
    """Loads the offsets `{split: {cls: [(start, end), ...]}}` (python ints, `start <= end`).

    Reads this builder's `.npz` form and upstream's pickle, the latter through
    `sketch_common.safe_pickle.load_pickle` (plain data and numpy values only). Every split of
    `SPLITS` is present in the result (empty when the file has no class for it).

    Raises:
        BertDataError: an unreadable or malformed file, a pickle naming anything else than plain
            data or numpy values, or a range that is not a pair of integers `0 <= start <= end`.
    """
    rebuild = ("rebuild the memmaps with `python -m bert_tf2.data.memmap --npz_list LIST "
               "--output_dir DIR`")
    try:
        if zipfile.is_zipfile(offset_path):
            stored = {}
            for key, pairs in load_npz(offset_path).items():
                split, _, cls_name = key.partition("/")
                stored.setdefault(split, {})[cls_name] = pairs
        else:
            stored = load_pickle(offset_path)
    except (UnsafeFileError, MalformedFileError) as error:
        raise BertDataError(f"{error}; {rebuild}") from None
    if not isinstance(stored, dict) or not all(
            isinstance(classes, dict) for classes in stored.values()):
        raise BertDataError(f"{offset_path}: expected {{split: {{class: [(start, end), ...]}}}} "
                            f"offsets, got {type(stored).__name__}; {rebuild}")
    offsets = {split: {} for split in SPLITS}
    for split, classes in stored.items():
        offsets[split] = {cls_name: _offset_pairs(pairs, offset_path, split, cls_name, rebuild)
                          for cls_name, pairs in classes.items()}
    return offsets


def _offset_pairs(pairs, offset_path, split, cls_name, rebuild) -> list:
    """`pairs` as a list of `(start, end)` python ints; raises `BertDataError` when malformed."""
    where = f"{offset_path}: offsets of class '{cls_name}' in split '{split}'"
    try:
        array = np.asarray(pairs)
    except ValueError:  # ragged nesting
        array = None
    if array is not None and array.size == 0:
        return []
    if array is None or array.ndim != 2 or array.shape[1] != 2 or array.dtype.kind not in "iu":
        raise BertDataError(f"{where}: expected a list of (start, end) integer pairs, got "
                            f"{type(pairs).__name__} {str(pairs)[:60]}; {rebuild}")
    bad = np.flatnonzero((array[:, 0] < 0) | (array[:, 0] > array[:, 1]))
    if bad.size:
        start, end = array[bad[0]].tolist()
        raise BertDataError(f"{where}: sketch {bad[0]} has the range ({start}, {end}), not "
                            f"0 <= start <= end; {rebuild}")
    return [tuple(pair) for pair in array.tolist()]


def read_sum_file(sum_path: str):
    """[(class_name, class_data_path)] in file order; paths resolved as `resolve_data_path`."""
    try:
        with open(sum_path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError as error:
        raise BertDataError(
            f"{sum_path}: cannot read the memmap sum file ({error}); build the memmaps with "
            f"`python -m bert_tf2.data.memmap --npz_list LIST --output_dir DIR`") from error
    entries = []
    for line in lines:
        path = line.split("\t")[0]
        entries.append((class_name_from_path(path), path))
    return entries


def resolve_data_path(path: str, sum_path: str) -> str:
    """Resolves a sum-file class path (`.../<cls>.dat`, whose split files hold the data).

    Absolute paths are kept; a relative path is taken relative to the working directory when
    its split files are there (upstream's convention), else relative to the sum file's folder
    (this builder's convention).
    """
    if os.path.isabs(path):
        return path
    if any(os.path.exists(split_data_path(path, split)) for split in SPLITS):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(sum_path)), path)


def open_memmap(path: str, offsets):
    """The int16 `[rows, 3]` memmap of a split file holding `offsets` (checked to be long enough)."""
    rows = offsets[-1][1] if offsets else 0
    if rows == 0:
        return np.zeros((0, 3), MEMMAP_DTYPE)
    if not os.path.exists(path):
        raise BertDataError(f"{path}: memmap file missing; rebuild the memmaps")
    available = os.path.getsize(path) // (3 * np.dtype(MEMMAP_DTYPE).itemsize)
    if available < rows:
        bad = next(i for i, (_, end) in enumerate(offsets) if end > available)
        raise BertDataError(
            f"{path}: holds {available} rows but sketch {bad} ends at row {offsets[bad][1]} "
            f"(offsets file out of date); rebuild the memmaps")
    return np.memmap(path, dtype=MEMMAP_DTYPE, mode="r", shape=(rows, 3))
