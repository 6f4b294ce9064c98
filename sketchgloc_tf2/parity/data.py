"""Data parity: rebuild every batch of a bundle's `feeds.npz` from its raw `data/` and compare.

A batch `<name>/...` of `feeds.npz` stores the `indices` it was made of, the reorganisation
strength `prob` and the `np_seed` given to numpy right before it was made. The split is read from
the batch name (`..._train_...`, `..._valid_...` or `..._test_...`); training-split batches are
augmented. Because the port draws random numbers in upstream's order, the augmented batches are
reproduced too, not only the deterministic (test, PROB 0) one.
"""

import os
import re

import numpy as np

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.data import pipeline

_INPUT_KEYS = {"indices": "batch input", "prob": "batch input", "np_seed": "batch input"}
_DEAD_KEYS = {"mask": "upstream's all-zero mask is never fed; the port does not build it"}


def batch_names(feeds) -> list:
    """The batch prefixes of a feeds archive, in file order."""
    names = []
    for key in feeds.files:
        prefix = key.split("/", 1)[0]
        if prefix not in names:
            names.append(prefix)
    return names


def split_of(batch_name: str):
    """'train', 'valid' or 'test' from a batch name, or None when the name does not say."""
    match = re.search(r"(?:^|_)(train|valid|test)(?:_|$)", batch_name)
    return match.group(1) if match else None


def bundle_hparams(bundle_dir: str) -> hparams_lib.HParams:
    """The bundle's `model_config.json` with upstream node lengths (parity reproduces upstream)."""
    config = hparams_lib.load_config(os.path.join(bundle_dir, "model_config.json"))
    return config.replace(clip_node_length=False)


def rebuild_batch(prepared, batch_name: str, feeds) -> dict:
    """Rebuilds one stored batch with the port; returns the port's arrays by feed name."""
    split = split_of(batch_name)
    indices = feeds[f"{batch_name}/indices"]
    prob = float(str(feeds[f"{batch_name}/prob"]))
    seed = int(feeds[f"{batch_name}/np_seed"])
    batcher = pipeline.SketchBatcher(prepared.split(split), prepared.hparams,
                                     augment=split == "train")
    batch = batcher.batch(indices, prob, np.random.RandomState(seed))
    batch["n_stroke_rows"] = np.int32(batch["input_strokes_num"].sum())
    return batch


def check(bundle_dir: str, report) -> None:
    """Adds one row per data array of the bundle to `report`."""
    config = bundle_hparams(bundle_dir)
    prepared = pipeline.prepare_data(os.path.join(bundle_dir, "data"), config)
    for name in ("max_seq_len", "max_stroke_len", "max_strokes_num"):
        report.compare(f"sizes/{name}", getattr(prepared.hparams, name), getattr(config, name),
                       rtol=0, atol=0)
    if config.normalizing_scale_factor > 0:
        report.compare("sizes/normalizing_scale_factor",
                       prepared.hparams.normalizing_scale_factor,
                       config.normalizing_scale_factor)
    feeds_path = os.path.join(bundle_dir, "feeds.npz")
    if not os.path.exists(feeds_path):
        report.skip("feeds.npz", (), "the bundle has no feeds.npz")
        return
    with np.load(feeds_path) as feeds:
        for batch_name in batch_names(feeds):
            keys = [key for key in feeds.files if key.startswith(batch_name + "/")]
            required = [f"{batch_name}/{field}" for field in _INPUT_KEYS]
            missing = [key for key in required if key not in feeds.files]
            reason = None
            if split_of(batch_name) is None:
                reason = "batch name does not say its split (train/valid/test)"
            elif missing:
                reason = f"batch inputs missing: {', '.join(missing)}"
            rebuilt = None if reason else rebuild_batch(prepared, batch_name, feeds)
            for key in keys:
                field = key.split("/", 1)[1]
                if reason:
                    report.skip(key, feeds[key].shape, reason)
                elif field in _INPUT_KEYS:
                    report.skip(key, feeds[key].shape, _INPUT_KEYS[field])
                elif field in _DEAD_KEYS:
                    report.skip(key, feeds[key].shape, _DEAD_KEYS[field])
                elif field not in rebuilt:
                    report.skip(key, feeds[key].shape, "the port does not produce this array")
                else:
                    report.compare(key, rebuilt[field], feeds[key])
