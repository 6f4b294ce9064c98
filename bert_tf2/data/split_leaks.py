"""Audit of QuickDraw memmaps for valid/test sketches that duplicate training sketches.

Upstream's generator (bug B1) wrote `valid` = train + valid and `test` = train + valid + test;
`find_split_leaks` finds such files (and any other duplicated training sketch) by comparing the
raw rows of every sketch of a class's valid/test split with its train split.
"""

import dataclasses

import numpy as np

from bert_tf2.data.memmap_format import (open_memmap, read_offsets, read_sum_file,
                                         resolve_data_path, split_data_path)


def _sketch_keys(data: np.ndarray, offsets) -> list:
    return [data[start:end].tobytes() for start, end in offsets]


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
        train_data = open_memmap(split_data_path(class_path, "train"), train_offsets)
        train_keys = set(_sketch_keys(train_data, train_offsets))
        for split in ("valid", "test"):
            split_offsets = offsets.get(split, {}).get(cls_name, [])
            data = open_memmap(split_data_path(class_path, split), split_offsets)
            duplicates = [i for i, key in enumerate(_sketch_keys(data, split_offsets))
                          if key in train_keys]
            if duplicates:
                prefix = bool(train_offsets) and list(
                    split_offsets[:len(train_offsets)]) == list(train_offsets)
                leaks.append(SplitLeak(cls_name, split, duplicates, prefix))
    return leaks
