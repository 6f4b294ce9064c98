"""Builds the QuickDraw memmap layout of `bert_tf2.data.memmap_format` from sketch-rnn npz files.

Upstream's generator never reset its sketch list between splits (bug B1), so its `valid` file is
train + valid and its `test` file train + valid + test, and the validation loader (which takes the
first `each_val_samples` offsets) evaluates on training sketches. `build_memmaps` writes clean
splits unless `reproduce_split_leak=True`; `bert_tf2.data.split_leaks` detects leaky memmaps.

`read_npz_list` reads upstream's list file (one npz path per line, only the first tab-separated
field; missing files are skipped with a warning); `category_npz_paths` takes `NPZ_DIR/<name>.npz`
for each category name, in the given (label) order. Every file is written atomically
(`sketch_common.atomic_io`).
"""

import os

import numpy as np
from absl import logging

from bert_tf2.data.memmap_format import (MEMMAP_DIR_NAME, MEMMAP_DTYPE, OFFSETS_FILE_NAME, SPLITS,
                                         SUM_FILE_NAME, class_name_from_path, offsets_to_npz)
from bert_tf2.errors import BertDataError
from sketch_common.atomic_io import atomic_path, write_bytes
from sketch_common.safe_pickle import MalformedFileError, UnsafeFileError, load_npz


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
    with atomic_path(path) as temporary:
        rows.astype(MEMMAP_DTYPE).tofile(temporary)
    return offsets


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
    write_bytes(offset_path, offsets_to_npz(offsets))
    write_bytes(sum_path, "".join(sum_lines).encode("utf-8"))
    return sum_path, offset_path
