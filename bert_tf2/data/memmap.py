"""QuickDraw memmap datasets: builder, split-leak check and sketch index (spec §2.2-2.3).

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

Upstream's generator never reset its sketch list between splits (bug B1), so its `valid` file is
train + valid and its `test` file train + valid + test, and the validation loader (which takes the
first `each_val_samples` offsets) evaluates on training sketches. `build_memmaps` writes clean
splits unless `reproduce_split_leak=True`; `find_split_leaks` detects leaky memmaps.

Command line::

    python -m bert_tf2.data.memmap --npz_list LIST.txt --output_dir DIR [--reproduce_split_leak]
    python -m bert_tf2.data.memmap LIST.txt DIR
    python -m bert_tf2.data.memmap --data_dir NPZ_DIR --categories cat,dog,... --output_dir DIR
    python -m bert_tf2.data.memmap --check_leaks --output_dir DIR
    python -m bert_tf2.data.memmap --check_leaks --sum_path SUM --offset_path OFFSETS

`LIST.txt` holds one npz path per line (only the first tab-separated field is read; missing files
are skipped with a warning, as upstream). `--data_dir NPZ_DIR --categories a,b,...` instead takes
`NPZ_DIR/<name>.npz` for each comma-separated name, in the given (label) order; a missing one is
an error listing the categories the folder has.
"""

import argparse
import collections
import dataclasses
import io
import os
import secrets
import zipfile

import numpy as np
from absl import logging

from bert_tf2.errors import BertDataError
from sketch_common.safe_pickle import MalformedFileError, UnsafeFileError, load_npz, load_pickle
from sketchgloc_tf2.errors import run_tool

SPLITS = ("train", "valid", "test")
MEMMAP_DTYPE = np.int16
SUM_FILE_NAME = "memmap_sum.txt"
OFFSETS_FILE_NAME = "offsets.npz"
MEMMAP_DIR_NAME = "memmap"
LEGACY_OFFSETS_MODES = ("as_is", "fix")


def class_name_from_path(path: str) -> str:
    """Upstream class name: file name minus directory and minus its last 4 characters."""
    return os.path.basename(path)[:-4]


def split_data_path(class_path: str, split: str) -> str:
    """`memmap/<cls>.dat` → `memmap/<cls>_<split>.dat` (only the suffix is replaced)."""
    stem = class_path[:-4] if class_path.endswith(".dat") else class_path
    return f"{stem}_{split}.dat"


def read_npz_list(list_path: str):
    """Paths of the npz files named in a list file (first tab field per line, blank lines skipped).

    Missing files are skipped with a warning, as upstream.
    """
    paths = []
    with open(list_path, encoding="utf-8") as handle:
        for line in handle:
            path = line.strip().split("\t")[0].strip()
            if not path:
                continue
            if not os.path.exists(path):
                logging.warning("%s: %s does not exist, skipped", list_path, path)
                continue
            paths.append(path)
    return paths


def category_npz_paths(data_dir: str, categories):
    """`data_dir/<name>.npz` for each category name, in the given (label) order.

    Args:
        data_dir: folder of sketch-rnn npz files, one per category.
        categories: names, or one string of comma-separated names (surrounding spaces dropped;
            names may contain inner spaces, e.g. 'alarm clock').

    Raises:
        BertDataError: no names, a repeated name or a missing file (the message lists the
            categories the folder has).
    """
    if isinstance(categories, str):
        categories = categories.split(",")
    names = [name.strip() for name in categories if name.strip()]
    if not names:
        raise BertDataError("no categories given; pass --categories name,name,...")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BertDataError(f"categories {repeated} are given more than once")
    paths = [os.path.join(data_dir, f"{name}.npz") for name in names]
    missing = [name for name, path in zip(names, paths) if not os.path.isfile(path)]
    if missing:
        available = sorted(entry[:-4] for entry in os.listdir(data_dir)
                           if entry.endswith(".npz")) if os.path.isdir(data_dir) else []
        raise BertDataError(
            f"{data_dir}: no npz file for categories {missing}; "
            + (f"available: {', '.join(available)}" if available
               else "the folder has no .npz files (check --data_dir)"))
    return paths


def _checked_sketch(sketch, npz_path: str, split: str, index: int) -> np.ndarray:
    """Validates one raw sketch and returns it as int16 [N, 3]."""
    array = np.asarray(sketch)
    if array.ndim != 2 or array.shape[1] != 3:
        raise BertDataError(
            f"{npz_path}: sketch {index} of split '{split}' has shape {array.shape}, expected "
            f"[N, 3] stroke-3 rows (dx, dy, lift); remove or convert it before building memmaps")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise BertDataError(
                f"{npz_path}: sketch {index} of split '{split}' has non-integer values; memmaps "
                f"store int16 offsets, round the offsets first")
    info = np.iinfo(MEMMAP_DTYPE)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise BertDataError(
            f"{npz_path}: sketch {index} of split '{split}' has values outside the int16 range "
            f"[{info.min}, {info.max}]; rescale the sketch before building memmaps")
    return array.astype(MEMMAP_DTYPE)


def _write_rows(path: str, sketches) -> list:
    """Writes sketches as one int16 [rows, 3] file; returns their (start, end) offsets."""
    offsets, start = [], 0
    for sketch in sketches:
        offsets.append((start, start + len(sketch)))
        start += len(sketch)
    rows = np.concatenate(sketches) if sketches else np.zeros((0, 3), MEMMAP_DTYPE)
    tmp_path = path + ".tmp"
    rows.astype(MEMMAP_DTYPE).tofile(tmp_path)
    os.replace(tmp_path, path)
    return offsets


def _atomic_write(path: str, data: bytes) -> None:
    """Writes `data` through a temporary file in the same folder and a rename.

    The file gets the mode of any new file (0666 minus the umask, 0644 by default).
    """
    folder, name = os.path.split(os.path.abspath(path))
    tmp_path = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    handle = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def offsets_to_npz(offsets: dict) -> bytes:
    """The `.npz` bytes of `{split: {cls: [(start, end), ...]}}`: int64 [n, 2] per `split/cls`."""
    arrays = {f"{split}/{cls_name}": np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
              for split, classes in offsets.items() for cls_name, pairs in classes.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def build_memmaps(npz_paths, output_dir: str, reproduce_split_leak: bool = False):
    """Converts sketch-rnn npz files (keys train/valid/test) into the memmap layout.

    Args:
        npz_paths: npz files, one class each, in label order.
        output_dir: destination folder (created).
        reproduce_split_leak: write upstream's leaky files (valid = train + valid, test = train +
            valid + test, accumulated counts; bug B1). Only for reproducing old experiments.

    Returns:
        (sum_path, offset_path).

    Raises:
        BertDataError: a missing split key or a bad sketch (names the file, split and index).
    """
    memmap_dir = os.path.join(output_dir, MEMMAP_DIR_NAME)
    os.makedirs(memmap_dir, exist_ok=True)
    offsets = {split: {} for split in SPLITS}
    sum_lines = []
    for npz_path in npz_paths:
        cls_name = class_name_from_path(npz_path)
        try:
            data = load_npz(npz_path)
        except (UnsafeFileError, MalformedFileError) as error:
            raise BertDataError(str(error)) from None
        missing = [split for split in SPLITS if split not in data]
        if missing:
            raise BertDataError(
                f"{npz_path}: missing split(s) {missing}; a sketch-rnn npz file needs the "
                f"keys {list(SPLITS)}")
        per_split = {split: [_checked_sketch(sketch, npz_path, split, index)
                             for index, sketch in enumerate(data[split])]
                     for split in SPLITS}
        accumulated, written = [], 0
        for split in SPLITS:
            accumulated = accumulated + per_split[split] if reproduce_split_leak else per_split[
                split]
            path = os.path.join(memmap_dir, f"{cls_name}_{split}.dat")
            offsets[split][cls_name] = _write_rows(path, accumulated)
            written += len(accumulated)
        sum_lines.append(f"{MEMMAP_DIR_NAME}/{cls_name}.dat\t{written}\n")
        logging.info("%s: %s sketches (train/valid/test) -> %s", npz_path,
                     "/".join(str(len(per_split[s])) for s in SPLITS), memmap_dir)
    sum_path = os.path.join(output_dir, SUM_FILE_NAME)
    offset_path = os.path.join(output_dir, OFFSETS_FILE_NAME)
    _atomic_write(offset_path, offsets_to_npz(offsets))
    _atomic_write(sum_path, "".join(sum_lines).encode("utf-8"))
    return sum_path, offset_path


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


def _sketch_keys(data: np.ndarray, offsets) -> list:
    return [data[start:end].tobytes() for start, end in offsets]


def _open_memmap(path: str, offsets):
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


@dataclasses.dataclass
class SplitLeak:
    """Sketches of a valid/test split that duplicate training sketches of the same class."""

    class_name: str
    split: str
    duplicate_indices: list  # indices into offsets[split][class_name]
    legacy_prefix: bool  # the split's offsets start with exactly the train offsets (upstream B1)


def find_split_leaks(sum_path: str, offset_path: str):
    """Finds valid/test sketches whose rows equal a train sketch of the same class.

    Returns:
        A list of `SplitLeak`, empty for clean memmaps. Memmaps built by upstream's generator
        report every train sketch as leaked into valid and test (`legacy_prefix` True).
    """
    offsets = read_offsets(offset_path)
    leaks = []
    for cls_name, class_path in read_sum_file(sum_path):
        class_path = resolve_data_path(class_path, sum_path)
        train_offsets = offsets.get("train", {}).get(cls_name, [])
        train_data = _open_memmap(split_data_path(class_path, "train"), train_offsets)
        train_keys = set(_sketch_keys(train_data, train_offsets))
        for split in ("valid", "test"):
            split_offsets = offsets.get(split, {}).get(cls_name, [])
            data = _open_memmap(split_data_path(class_path, split), split_offsets)
            duplicates = [i for i, key in enumerate(_sketch_keys(data, split_offsets))
                          if key in train_keys]
            if duplicates:
                prefix = bool(train_offsets) and list(
                    split_offsets[:len(train_offsets)]) == list(train_offsets)
                leaks.append(SplitLeak(cls_name, split, duplicates, prefix))
    return leaks


class SketchCollection:
    """Indexed labelled stroke-3 sketches plus upstream's triplet partner sampling.

    Subclasses set `labels` (int64 [n]), `class_names` (label order) and implement `sketch(i)`.
    `cls2index` maps each label that has items to its ascending item indices.
    """

    labels: np.ndarray
    class_names: list

    def __len__(self):
        return len(self.labels)

    def sketch(self, index: int) -> np.ndarray:
        """The raw int16 [N, 3] stroke-3 rows of item `index`."""
        raise NotImplementedError

    def describe(self, index: int) -> str:
        """Where item `index` comes from (for error messages)."""
        return f"sketch {index}"

    @property
    def cls2index(self) -> dict:
        if not hasattr(self, "_cls2index"):
            groups = collections.defaultdict(list)
            for index, label in enumerate(self.labels.tolist()):
                groups[label].append(index)
            self._cls2index = dict(sorted(groups.items()))
        return self._cls2index

    def get_cate_num(self) -> dict:
        """{label: number of items}."""
        return {label: len(items) for label, items in self.cls2index.items()}

    def check_triplets(self) -> None:
        """Raises unless triplets can be sampled (>= 2 classes, >= 2 items per class)."""
        if len(self.cls2index) < 2:
            raise BertDataError(
                "triplet sampling (get_type 'triplet') needs at least 2 classes with items; "
                "raise max_cls_cache or check cls_limit_path")
        small = [self.class_names[c] for c, items in self.cls2index.items() if len(items) < 2]
        if small:
            raise BertDataError(
                f"triplet sampling needs >= 2 sketches per class; classes {small} have one; "
                f"raise each_max_samples / each_val_samples or drop these classes")

    def sample_triplet_partners(self, index: int, rng):
        """Upstream draw order: negative class, positive item (not `index`), negative item.

        Args:
            index: the anchor item.
            rng: `numpy.random.RandomState` (original stream) or `numpy.random.Generator`.

        Returns:
            (positive_index, negative_index).
        """
        label = int(self.labels[index])
        negative_classes = [c for c in self.cls2index if c != label]
        negative_class = rng.choice(negative_classes, 1)[0]
        positive = rng.choice([i for i in self.cls2index[label] if i != index], 1)[0]
        negative = rng.choice(self.cls2index[negative_class], 1)[0]
        return int(positive), int(negative)


class ArraySketches(SketchCollection):
    """Sketches held as one concatenated row array plus offsets (the reference-bundle layout).

    Args:
        rows: [R, 3] stroke-3 rows of all sketches.
        offsets: [n, 2] (start, end) row range of each sketch.
        labels: [n] class ids.
        class_names: names in label order (default: the label numbers).
        source: name used in error messages.
    """

    def __init__(self, rows, offsets, labels, class_names=None, source="<arrays>"):
        self.rows = np.asarray(rows)
        self.offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.labels) != len(self.offsets):
            raise BertDataError(f"{source}: {len(self.offsets)} offsets but {len(self.labels)} "
                                f"labels; give one label per sketch")
        bad = np.flatnonzero((self.offsets[:, 0] > self.offsets[:, 1]) |
                             (self.offsets[:, 1] > len(self.rows)))
        if bad.size:
            raise BertDataError(f"{source}: sketch {bad[0]} has offsets {self.offsets[bad[0]]} "
                                f"outside the {len(self.rows)} rows; fix the offsets")
        count = int(self.labels.max()) + 1 if len(self.labels) else 0
        self.class_names = list(class_names) if class_names is not None else [
            str(c) for c in range(count)]
        self.source = source

    def sketch(self, index: int) -> np.ndarray:
        start, end = self.offsets[index]
        return np.array(self.rows[start:end])

    def describe(self, index: int) -> str:
        return f"{self.source}: sketch {index}"


class MemmapSketches(SketchCollection):
    """The QuickDraw memmap index of upstream's `QuickDrawMemMapDataset` (spec §2.3).

    Classes are the first `max_cls_cache` lines of the sum file that pass the optional whitelist;
    a class's label is its rank among them. Per class the first `each_max_samples` offsets of the
    split are items (minus those with >= `max_length` rows when `input_is_complete`).

    Args:
        sum_path: the sum file.
        offset_path: the offsets file (`.npz`, or upstream's pickle).
        mode: split ('train', 'valid' or 'test').
        max_cls_cache: maximum number of classes.
        each_max_samples: per-class cap (pass `each_val_samples` for validation).
        cls_limit_path: optional file with one class name per line ('' / None = all classes).
        input_is_complete: drop sketches with >= `max_length` rows instead of truncating.
        max_length: sequence length (used with `input_is_complete`).
        legacy_offsets: for valid/test splits of upstream-built (leaky, B1) memmaps: 'as_is'
            keeps the leaked train sketches (warning), 'fix' drops them.

    Raises:
        BertDataError: unreadable files, a class missing from the offsets, a bad option.
    """

    def __init__(self, sum_path, offset_path, mode="train", max_cls_cache=345,
                 each_max_samples=5000, cls_limit_path=None, input_is_complete=False,
                 max_length=250, legacy_offsets="as_is"):
        if legacy_offsets not in LEGACY_OFFSETS_MODES:
            raise BertDataError(f"legacy_offsets '{legacy_offsets}' is not one of "
                                f"{LEGACY_OFFSETS_MODES}")
        self.sum_path, self.mode = sum_path, mode
        offsets = read_offsets(offset_path)
        if mode not in offsets:
            raise BertDataError(f"{offset_path}: no split '{mode}' (has {sorted(offsets)})")
        whitelist = self._read_whitelist(cls_limit_path)
        self.class_names, self.data_paths, self.class_offsets = [], [], []
        items, labels = [], []
        for cls_name, class_path in read_sum_file(sum_path):
            if len(self.class_names) >= max_cls_cache:
                break
            if whitelist and cls_name not in whitelist:
                continue
            if cls_name not in offsets[mode]:
                raise BertDataError(
                    f"{offset_path}: class '{cls_name}' of {sum_path} has no '{mode}' offsets; "
                    f"rebuild the memmaps so both files match")
            class_offsets = [tuple(map(int, pair)) for pair in offsets[mode][cls_name]]
            class_offsets = self._legacy_fixed(class_offsets, offsets, cls_name, legacy_offsets,
                                               offset_path)
            label = len(self.class_names)
            self.class_names.append(cls_name)
            self.data_paths.append(split_data_path(resolve_data_path(class_path, sum_path), mode))
            self.class_offsets.append(class_offsets)
            for position, (start, end) in enumerate(class_offsets[:each_max_samples]):
                if input_is_complete and end - start >= max_length:
                    continue
                items.append((label, position))
                labels.append(label)
        self.items = items
        self.labels = np.asarray(labels, dtype=np.int64)
        self._memmaps = {}
        logging.info("%s [%s]: %d classes, %d sketches", sum_path, mode, len(self.class_names),
                     len(self.items))

    @staticmethod
    def _read_whitelist(cls_limit_path):
        if cls_limit_path in (None, "", "None"):
            return set()
        try:
            with open(cls_limit_path, encoding="utf-8") as handle:
                return {line.strip() for line in handle if line.strip()}
        except OSError as error:
            raise BertDataError(f"cls_limit_path {cls_limit_path}: {error}; give a file with one "
                                f"class name per line or ''") from error

    def _legacy_fixed(self, class_offsets, offsets, cls_name, legacy_offsets, offset_path):
        train = [tuple(map(int, pair)) for pair in offsets.get("train", {}).get(cls_name, [])]
        if self.mode == "train" or not train or class_offsets[:len(train)] != train:
            return class_offsets
        if legacy_offsets == "fix":
            logging.warning("%s: '%s' offsets of %s start with the %d train sketches (upstream "
                            "generator bug); dropped", offset_path, self.mode, cls_name,
                            len(train))
            return class_offsets[len(train):]
        logging.warning("%s: '%s' offsets of %s start with the %d train sketches (upstream "
                        "generator bug); kept as is (legacy_offsets='fix' drops them)",
                        offset_path, self.mode, cls_name, len(train))
        return class_offsets

    def _memmap(self, label):
        if label not in self._memmaps:
            self._memmaps[label] = _open_memmap(self.data_paths[label], self.class_offsets[label])
        return self._memmaps[label]

    def sketch(self, index: int) -> np.ndarray:
        label, position = self.items[index]
        start, end = self.class_offsets[label][position]
        return np.array(self._memmap(label)[start:end])

    def describe(self, index: int) -> str:
        label, position = self.items[index]
        return f"{self.data_paths[label]}: sketch {position} (dataset item {index})"


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bert_tf2.data.memmap",
        description="Build QuickDraw memmaps from sketch-rnn npz files, or check memmaps for "
                    "train sketches leaked into valid/test.")
    parser.add_argument("positional", nargs="*", help="NPZ_LIST OUTPUT_DIR (upstream order)")
    parser.add_argument("--npz_list", help="file with one npz path per line")
    parser.add_argument("--data_dir", help="folder of <category>.npz files (with --categories)")
    parser.add_argument("--categories",
                        help="comma-separated category names, read from --data_dir in this "
                             "(label) order; instead of --npz_list")
    parser.add_argument("--output_dir", help="destination (or, with --check_leaks, the folder "
                                             f"holding {SUM_FILE_NAME} and {OFFSETS_FILE_NAME})")
    parser.add_argument("--reproduce_split_leak", action="store_true",
                        help="write upstream's leaky valid/test files (bug B1); off by default")
    parser.add_argument("--check_leaks", action="store_true",
                        help="report valid/test sketches duplicating train sketches; exit 1 "
                             "if any")
    parser.add_argument("--sum_path", help="sum file to check (default OUTPUT_DIR/memmap_sum.txt)")
    parser.add_argument("--offset_path", help="offsets file to check")
    args = parser.parse_args(argv)
    positional = list(args.positional)
    by_category = args.categories is not None or args.data_dir is not None
    npz_list = args.npz_list or (positional.pop(0) if positional and not args.check_leaks
                                 and not by_category else None)
    output_dir = args.output_dir or (positional.pop(0) if positional else None)
    logging.set_verbosity(logging.INFO)
    if args.check_leaks:
        sum_path = args.sum_path or (output_dir and os.path.join(output_dir, SUM_FILE_NAME))
        offset_path = args.offset_path or (
            output_dir and os.path.join(output_dir, OFFSETS_FILE_NAME))
        if not sum_path or not offset_path:
            parser.error("--check_leaks needs --output_dir or --sum_path and --offset_path")
        leaks = find_split_leaks(sum_path, offset_path)
        for leak in leaks:
            print(f"LEAK {leak.class_name} [{leak.split}]: {len(leak.duplicate_indices)} "
                  f"sketches duplicate train sketches (first index {leak.duplicate_indices[0]})"
                  + ("; offsets start with the train list (upstream generator bug B1)"
                     if leak.legacy_prefix else ""))
        print(f"{len(leaks)} leaky class splits" if leaks else "no leaks found")
        return 1 if leaks else 0
    if by_category:
        if npz_list or args.categories is None or args.data_dir is None:
            parser.error("--categories and --data_dir go together, without --npz_list")
        if not output_dir:
            parser.error("give --output_dir DIR")
        npz_paths = category_npz_paths(args.data_dir, args.categories)
    else:
        if not npz_list or not output_dir:
            parser.error("give --npz_list LIST --output_dir DIR (or LIST DIR), or --data_dir "
                         "DIR --categories a,b,... --output_dir DIR")
        npz_paths = read_npz_list(npz_list)
    sum_path, offset_path = build_memmaps(npz_paths, output_dir,
                                          reproduce_split_leak=args.reproduce_split_leak)
    print(f"wrote {sum_path} and {offset_path}")
    return 0


if __name__ == "__main__":
    run_tool(_main, BertDataError, exit_code=2)
