"""Shared setup of the Sketch-BERT benchmarks: default config, model and a synthetic batch."""

import argparse
import os
import statistics
import time

import numpy as np

from common import REPO
from flops import bert_forward_flops, bert_train_step_flops

DEFAULT_CONFIG = os.path.join(REPO, "bert_tf2", "configs", "sketch_transformer.yml")


def benchmark_parser(description, default_batch):
    """The arguments both Sketch-BERT benchmarks take (config, batch, runs, XLA, dtype policy)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--batch", type=int, default=default_batch)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--xla", action="store_true",
                        help="compile with XLA (jit_compile=True); on CPU, TensorFlow's oneDNN "
                             "kernels without XLA measured 10-20 %% faster")
    parser.add_argument("--dtype_policy", default="float32",
                        help="Keras dtype policy, e.g. mixed_bfloat16 (float32 = parity numerics)")
    return parser


def load_benchmark_config(path, overrides):
    """The YAML config (default: the published 8 x [12, 768, 3072], max_length 250)."""
    from bert_tf2.config import load_config

    return load_config(path, overrides)


def describe(config):
    """The config fields a measurement reports."""
    described = {key: config[key] for key in (
        "model_type", "embed_layers_setting", "max_length", "task_types", "rec_layers_setting")}
    described.update(num_layers=len(config["layers_setting"]),
                     layer=config["layers_setting"][0])
    return described


def analytic_gflop(config, batch, training, rows=None):
    """GFLOP of one forward pass (or training step) of `batch` sketches (`flops.py`).

    Args:
        config: the benchmark config.
        batch: B (triplet members are counted when `sketchretrieval` is a task).
        training: count a training step (3 x the forward pass).
        rows: rows computed per sketch including special tokens (default: all of them).
    """
    from bert_tf2.heads import num_prefix_tokens

    tasks = list(config["task_types"])
    prefix = num_prefix_tokens(tasks)
    rows = config["max_length"] + prefix if rows is None else rows
    hidden = config["layers_setting"][0][1]
    heads = []
    for task, reads, hidden_widths, output in (
            ("maskrec", rows - prefix, "rec_layers_setting", "input_dim"),
            ("sketchclsinput", 1, "cls_layers_setting", "cls_dim"),
            ("sketchretrieval", 1, "rel_layers_setting", "rel_feat_dim")):
        if task in tasks:
            heads.append((reads, [hidden] + list(config[hidden_widths]) + [config[output]]))
    count = bert_train_step_flops if training else bert_forward_flops
    members = 3 if "sketchretrieval" in tasks else 1
    return count(layers_setting=config["layers_setting"],
                 embed_layers_setting=config["embed_layers_setting"],
                 input_dim=config["input_dim"], rows=rows, batch=batch * members,
                 head_rows_and_widths=heads) / 1e9


def quickdraw_lengths(data_dir):
    """Row counts (points + start row) of the sketches in `data_dir/*.npz` (all splits).

    The files are read by `sketch_common.safe_pickle.load_npz`, which never runs code from them.
    """
    import glob

    from sketch_common.safe_pickle import load_npz

    lengths = []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz"))):
        data = load_npz(path)
        for split in ("train", "valid", "test"):
            if split in data:
                lengths.extend(len(sketch) + 1 for sketch in data[split])
    return np.asarray(lengths)


def synthetic_batch(config, batch_size, seed=0, lengths=None):
    """A stroke-5 batch of the pipeline's layout with random lengths and a 15 % random mask.

    Every row is computed by the dense model regardless of the content, so the timing does not
    depend on it; the triplet member axis is added when `sketchretrieval` is a task. `lengths`
    (optional) is a pool of real sketch row counts to draw the lengths from.
    """
    from bert_tf2.heads import num_prefix_tokens

    rng = np.random.default_rng(seed)
    tasks = list(config["task_types"])
    members = (3,) if "sketchretrieval" in tasks else ()
    length, tokens = config["max_length"], num_prefix_tokens(tasks)
    shape = members + (batch_size,)
    stroke = np.zeros(shape + (length, 5), np.float32)
    stroke[..., :2] = rng.normal(size=shape + (length, 2))
    stroke[..., 2] = 1.0
    mask = (rng.random(shape + (length, 5)) > 0.15).astype(np.float32)
    if lengths is None:
        lengths = rng.integers(length // 4, length + 1, size=shape)
    else:
        lengths = np.minimum(rng.choice(lengths, size=shape), length)
    token_rows = np.concatenate([np.full(shape + (1, 5), -2.0), np.full(shape + (1, 5), -1.0)],
                                axis=-2)[..., 2 - tokens:, :]
    return {
        "mask_input": np.concatenate([token_rows, stroke * mask], axis=-2).astype(np.float32),
        "length_mask": (np.arange(length + tokens) < lengths[..., None] + tokens).astype(
            np.float32),
        "stroke": stroke, "mask": mask,
        "segment": np.zeros(shape + (length + tokens,), np.int64),
        "target": rng.integers(0, config["cls_dim"], size=shape),
    }


def timed_with_cpu(function):
    """Wraps `function` so that each call appends its process CPU time (s) to `.cpu_times`.

    The machine may be shared: wall time then depends on other processes, CPU time much less.
    """
    def wrapper():
        start = time.process_time()
        function()
        wrapper.cpu_times.append(time.process_time() - start)

    wrapper.cpu_times = []
    return wrapper


def median_cpu_s(wrapper, runs):
    """Median CPU time of the last `runs` calls of a `timed_with_cpu` wrapper."""
    return round(statistics.median(wrapper.cpu_times[-runs:]), 6)
