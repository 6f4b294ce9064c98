"""Tiny Sketch-BERT data and configs shared by the Sketch-BERT tests."""

import pathlib

import numpy as np
import yaml

from bert_tf2 import config as config_lib
from bert_tf2.data import memmap_builder

DEFAULT_CONFIG = pathlib.Path(config_lib.__file__).parent / "configs" / "sketch_transformer.yml"


def _sketch(rng, label):
    """Class-dependent synthetic sketches: class c draws strokes with mean direction c."""
    num_points = int(rng.integers(8, 24))
    sketch = np.zeros((num_points, 3), np.int16)
    angle = 2 * np.pi * label / 3
    sketch[:, 0] = np.round(20 * np.cos(angle) + rng.normal(0, 4, num_points))
    sketch[:, 1] = np.round(20 * np.sin(angle) + rng.normal(0, 4, num_points))
    sketch[num_points // 2, 2] = 1
    sketch[-1, 2] = 1
    return sketch


def write_memmaps(root):
    """Memmaps of 3 classes of direction-coded sketches (16/6/6 per split) in root/data."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for label, name in enumerate(("a", "b", "c")):
        splits = {}
        for split, count in (("train", 16), ("valid", 6), ("test", 6)):
            array = np.empty(count, dtype=object)
            array[:] = [_sketch(rng, label) for _ in range(count)]
            splits[split] = array
        path = root / f"{name}.npz"
        np.savez(path, **splits)
        paths.append(str(path))
    memmap_builder.build_memmaps(paths, str(root / "data"))


def tiny_config(root, name, **changes):
    """A tiny Sketch-BERT YAML (2 layers, hidden 16, max_length 24) over root/data; returns its path."""
    values = config_lib.load_config(str(DEFAULT_CONFIG)).to_dict()
    values.update(
        batch_size=8, num_epoch=2, checkpoint_every=1000, save_model_every=4, print_every=2,
        sum_path=str(root / "data" / "memmap_sum.txt"),
        offset_path=str(root / "data" / "offsets.npz"), max_length=24,
        layers_setting=[[2, 16, 32]] * 2, embed_layers_setting=[8, 16], rec_layers_setting=[16],
        cls_dim=3, rel_feat_dim=8, attention_dropout_prob=0.0, hidden_dropout_prob=0.0,
        output_dropout_prob=0.0, learning_rate=0.003, log_dir=name, log_root=str(root / "logs"))
    values.update(changes)
    path = root / f"{name}.yml"
    path.write_text(yaml.safe_dump(values))
    return str(path)
