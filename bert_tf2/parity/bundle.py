"""Locating the models of a Sketch-BERT reference bundle.

A bundle holds one or two models, each a YAML config plus an original `.pth.tar` checkpoint:
the fine-tuning model F (`config.yml` + the `.pth.tar` whose name does not end in `_pretrain`;
reference arrays unprefixed, with a leading triplet-member axis when its config uses triplets)
and optionally the pre-training model P (`config_pretrain.yml` + `*_pretrain.pth.tar`; arrays
prefixed `pt_`). Sizes, model type and heads are read from the configs and checkpoints.
"""

import dataclasses
import pathlib

import numpy as np

from bert_tf2.config import load_config
from bert_tf2.convert import load_torch_model
from bert_tf2.errors import BertCheckpointError


@dataclasses.dataclass
class BundleModel:
    """One model of a bundle.

    Attributes:
        prefix: prefix of its arrays in inputs.npz / outputs.npz (`'pt_'` or `''`).
        config: its `Config`.
        checkpoint: path of its `.pth.tar`.
        batch: dict `mask_input`, `stroke`, `segment`, `length_mask`, `mask`, `target` (numpy,
            with the member axis when present).
    """

    prefix: str
    config: object
    checkpoint: pathlib.Path
    batch: dict

    def load(self):
        """A fresh `SketchBertModel` with the checkpoint's weights (via the converter)."""
        model, _ = load_torch_model(str(self.checkpoint), self.config)
        return model


BATCH_KEYS = ("mask_input", "stroke", "segment", "length_mask", "mask", "target")


def bundle_models(bundle_dir):
    """The models of a bundle that has configs, checkpoints and input batches for them."""
    bundle_dir = pathlib.Path(bundle_dir)
    inputs = np.load(bundle_dir / "inputs.npz")
    checkpoints = sorted(bundle_dir.glob("*.pth.tar"))
    pretrain = [path for path in checkpoints if path.name.endswith("_pretrain.pth.tar")]
    finetune = [path for path in checkpoints if path not in pretrain]
    candidates = [("pt_", "config_pretrain.yml", pretrain), ("", "config.yml", finetune)]
    models = []
    for prefix, config_name, paths in candidates:
        config_path = bundle_dir / config_name
        if not config_path.is_file() or not paths:
            continue
        if len(paths) > 1:
            raise BertCheckpointError(
                f"{bundle_dir}: several checkpoints {[p.name for p in paths]} could belong to "
                f"{config_name}; keep one")
        if f"{prefix}mask_input" not in inputs.files:
            continue
        batch = {key: inputs[prefix + key] for key in BATCH_KEYS if prefix + key in inputs.files}
        models.append(BundleModel(prefix, load_config(str(config_path)), paths[0], batch))
    return models


def member_slices(batch):
    """`[(member index or None, batch of that member)]`: one entry per triplet member."""
    if np.ndim(batch["mask_input"]) == 4:
        return [(index, {key: value[index] for key, value in batch.items()})
                for index in range(batch["mask_input"].shape[0])]
    return [(None, batch)]
