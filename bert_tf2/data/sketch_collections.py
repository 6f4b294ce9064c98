"""Sketch collections the Sketch-BERT pipeline reads: in-memory arrays or QuickDraw memmaps.

`SketchCollection` is the interface (`len`, `sketch(index)`, labels, class names, triplet
partners); `ArraySketches` holds arrays (tests, parity bundles); `MemmapSketches` is upstream's
`QuickDrawMemMapDataset` index over the files of `bert_tf2.data.memmap_format` (spec §2.3).
"""

import collections

import numpy as np
from absl import logging

from bert_tf2.data import memmap_format
from bert_tf2.data.memmap_format import open_memmap, resolve_data_path, split_data_path
from bert_tf2.errors import BertDataError

LEGACY_OFFSETS_MODES = ("as_is", "fix")


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
        offsets = memmap_format.read_offsets(offset_path)
        if mode not in offsets:
            raise BertDataError(f"{offset_path}: no split '{mode}' (has {sorted(offsets)})")
        whitelist = self._read_whitelist(cls_limit_path)
        self.class_names, self.data_paths, self.class_offsets = [], [], []
        items, labels = [], []
        for cls_name, class_path in memmap_format.read_sum_file(sum_path):
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
            self._memmaps[label] = open_memmap(self.data_paths[label], self.class_offsets[label])
        return self._memmaps[label]

    def sketch(self, index: int) -> np.ndarray:
        label, position = self.items[index]
        start, end = self.class_offsets[label][position]
        return np.array(self._memmap(label)[start:end])

    def describe(self, index: int) -> str:
        label, position = self.items[index]
        return f"{self.data_paths[label]}: sketch {position} (dataset item {index})"
