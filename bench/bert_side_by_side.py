"""Benchmark: the original Sketch-BERT (PyTorch) and this port side by side, in one run.

Absolute times on shared machines drift by 2x between days, so a ratio against the original is
only worth stating when both sides ran in the same session. This script times both, alternating,
and prints the ratio of their medians with the date and the load.

The original code is not part of this repository: `--upstream_dir` is the user's checkout of
https://github.com/avalonstrel/SketchBERT (`git clone https://github.com/avalonstrel/SketchBERT`).
Its classes are imported at run time, in a child process, from that folder:

* the models, optimizers and losses are built by upstream's own
  `models.SketchTransformer.models.trainer.SketchTransformerTrainer.__init__` (which calls its
  `build_models`: `SketchTransformerModel`, `MaskSketchRecModel`, one `torch.optim.Adam` per
  network, the loss table), from upstream's `config/sketch_transformer.yml` read by upstream's
  `util.config.Config`, random weights (`load_pretrained: scratch`);
* the training step is the body of upstream's `train()` loop for one batch: `netE` with dropout,
  the task heads, `SketchTransformerTrainer.calculate_losses` (masked L1 on the offsets and
  cross entropy on the pen states, upstream's weights), `zero_grad`, `backward`, `step` of every
  optimizer; inference is `netE` and the heads in `eval()` mode under `torch.no_grad()`.

Deviations from upstream's own run, all outside the timed computation: the trainer places every
network on `cuda:<gpu_ids[0]>`; here, while the trainer is constructed, its module's
`torch.device` gives the CPU. The data loader is replaced by the port's synthetic batch
(`bert_common.synthetic_batch`, the same arrays for both sides, already converted to the dtypes
upstream's loop converts them to), and the data set the trainer asks for its class count by a
stand-in. Packages upstream imports but the timed code never uses (`torchvision`, `cv2`,
`svgwrite`, `cairosvg`), when not installed, are replaced by empty modules in the child process
(listed in each upstream line as `stubbed_imports`). `torch.set_num_threads(--threads)`; the
port's processes get `TF_NUM_INTRAOP_THREADS=--threads`.

The port side runs the unchanged `bench/bert_train_step.py` and `bench/bert_inference.py` in
their own processes. Each measurement is printed as one `common.emit` line with `side`
(`upstream` / `port`) and `round`; an upstream line carries the same analytic GFLOP as the
port's and the `peak_gflop_per_s` of a TensorFlow matmul (same thread count) measured in the
upstream process after its timed runs (its `peak_rss_mb` is read before TensorFlow is loaded).
The synthetic batches and the GFLOP counts come from a short child process, so that the parent
never loads TensorFlow (a child's peak RSS starts at its parent's size). The last line,
`bert_side_by_side_compare`, holds for training and inference the median over the rounds of
each side's median time, `ratio` = upstream / port (above 1: the port is faster), the same for
process CPU time, the load averages, the date and the checkout's commit (when it is a git
clone).

Run: `python bench/bert_side_by_side.py --upstream_dir DIR [--batch_train 8] [--batch_infer 32]
[--runs 5] [--rounds 2] [--threads 2] [--key=value ...]` (`--key=value` overrides config keys
on both sides, e.g. a tiny model: `--layers_setting=[[2,64,128],[2,64,128]] --max_length=32`).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from common import emit, required_json_record, run_child  # noqa: E402
from sketch_common.errors import ConfigError, UserError, run_tool  # noqa: E402

UPSTREAM_URL = "https://github.com/avalonstrel/SketchBERT"
UPSTREAM_TRAINER_MODULE = "models.SketchTransformer.models.trainer"
UPSTREAM_CONFIG = os.path.join("models", "SketchTransformer", "config", "sketch_transformer.yml")
UPSTREAM_REQUIRED_FILES = (
    os.path.join("models", "SketchTransformer", "models", "trainer.py"),
    os.path.join("models", "SketchTransformer", "models", "networks.py"),
    os.path.join("util", "config.py"),
    UPSTREAM_CONFIG,
)
UNUSED_UPSTREAM_IMPORTS = ("torchvision", "torchvision.models", "cv2", "svgwrite", "cairosvg")
SIDES = ("upstream", "port")
BENCH_NAMES = {"train": "bert_train_step", "inference": "bert_inference"}
PORT_SCRIPTS = {"train": "bert_train_step.py", "inference": "bert_inference.py"}
COMPARED_KEYS = (
    "model_type", "layers_setting", "embed_layers_setting", "rec_layers_setting", "input_dim",
    "max_length", "task_types", "position_type", "segment_type", "sketch_embed_type",
    "attention_norm_type", "inter_activation", "attention_dropout_prob", "hidden_dropout_prob",
    "output_dropout_prob", "learning_rate", "mask_axis_weight", "rec_axis_weight",
    "mask_type_weight", "rec_type_weight")


def check_upstream_dir(path):
    """The absolute path of a SketchBERT checkout, or a one-line `ConfigError`.

    Args:
        path: the `--upstream_dir` value.

    Raises:
        ConfigError: `path` is not a folder, or lacks a file of the original code this
            benchmark imports.
    """
    clone = f"clone it with `git clone {UPSTREAM_URL}` and pass that folder"
    if not os.path.isdir(path):
        raise ConfigError(f"--upstream_dir {path}: no such folder; {clone}")
    missing = [name for name in UPSTREAM_REQUIRED_FILES
               if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise ConfigError(f"--upstream_dir {path} is not a checkout of {UPSTREAM_URL} "
                          f"({missing[0]} is missing); {clone}")
    return os.path.abspath(path)


def check_counts(args):
    """Raises a one-line `ConfigError` unless every count argument is at least 1."""
    for name in ("batch_train", "batch_infer", "runs", "rounds", "threads"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} {getattr(args, name)}: must be at least 1")


def parse_measurement(output, bench):
    """The last JSON line of a benchmark's stdout whose `bench` is `bench`.

    Args:
        output: the child process's stdout (log lines that are not JSON are skipped).
        bench: the benchmark name to look for.

    Raises:
        UserError: no such line.
    """
    return required_json_record(output, bench, "the benchmark", UserError)


def compare_record(records, date, load_averages):
    """The `bert_side_by_side_compare` record of a run's measurement lines.

    For each workload: the median over the rounds of each side's `median_s` and `cpu_s`,
    `ratio` = upstream / port of the wall-time medians (above 1: the port is faster) and
    `cpu_ratio` of the CPU-time medians.

    Args:
        records: measurement dicts with `bench` (`BENCH_NAMES` values), `side`, `median_s`,
            `cpu_s`, `items_per_s` and `load_average`.
        date: ISO date and time of the run.
        load_averages: the machine's 1, 5 and 15 minute load averages at the end.

    Raises:
        ValueError: a side has no measurement of a workload.
    """
    result = {"bench": "bert_side_by_side_compare", "date": date}
    for workload, bench in BENCH_NAMES.items():
        medians = {}
        for side in SIDES:
            mine = [record for record in records
                    if record["bench"] == bench and record["side"] == side]
            if not mine:
                raise ValueError(f"no {side} measurement of {bench}")
            medians[side] = {key: statistics.median(record[key] for record in mine)
                             for key in ("median_s", "cpu_s", "items_per_s")}
            medians[side]["rounds"] = len(mine)
        upstream, port = medians["upstream"], medians["port"]
        result[workload] = {
            "upstream_median_s": round(upstream["median_s"], 6),
            "port_median_s": round(port["median_s"], 6),
            "ratio": round(upstream["median_s"] / port["median_s"], 3),
            "upstream_cpu_s": round(upstream["cpu_s"], 6),
            "port_cpu_s": round(port["cpu_s"], 6),
            "cpu_ratio": round(upstream["cpu_s"] / port["cpu_s"], 3),
            "upstream_items_per_s": upstream["items_per_s"],
            "port_items_per_s": port["items_per_s"],
            "rounds": min(upstream["rounds"], port["rounds"]),
        }
    loads = [record["load_average"] for record in records]
    result["load_average"] = {"min_1min": min(loads), "max_1min": max(loads),
                              "end_1_5_15min": [round(value, 2) for value in load_averages]}
    return result


def stub_unused_imports(names):
    """Registers an empty module for each of `names` that cannot be imported; returns them.

    Reading an attribute of a stand-in raises `AttributeError` naming the missing package, so
    code that really needs the package still fails loudly.
    """
    import importlib.util

    def missing_attribute(module_name):
        def attribute(name):
            raise AttributeError(f"{module_name} is not installed (an empty stand-in of "
                                 f"bench/bert_side_by_side.py): no {module_name}.{name}")
        return attribute

    stubbed = []
    for name in names:
        parent_name, _, child_name = name.rpartition(".")
        if name in sys.modules or (not parent_name and importlib.util.find_spec(name)):
            continue
        if parent_name and parent_name not in stubbed:
            continue
        module = types.ModuleType(name)
        module.__getattr__ = missing_attribute(name)
        sys.modules[name] = module
        if parent_name:
            setattr(sys.modules[parent_name], child_name, module)
        stubbed.append(name)
    return stubbed


class CpuDeviceTorch:
    """Stands in for the `torch` module of upstream's trainer module while it is constructed:
    `device(...)` is the CPU, every other attribute is torch's own."""

    def __init__(self, torch_module):
        self._torch = torch_module

    def device(self, *unused_args, **unused_kwargs):
        """The CPU device, whatever device was asked for."""
        return self._torch.device("cpu")

    def __getattr__(self, name):
        return getattr(self._torch, name)


def build_upstream_trainer(upstream_dir, overrides):
    """Upstream's `SketchTransformerTrainer`, built by its own `__init__` on the CPU.

    Args:
        upstream_dir: the SketchBERT checkout (put first on `sys.path`).
        overrides: typed config values set on upstream's `Config` after its YAML is read.

    Returns:
        `(trainer, described, stubbed)`: the trainer (networks in `trainer.models`, optimizers
        in `trainer.opts`), the `COMPARED_KEYS` values it was built from and the stubbed
        import names.
    """
    import importlib
    import logging

    sys.path.insert(0, upstream_dir)
    stubbed = stub_unused_imports(UNUSED_UPSTREAM_IMPORTS)
    import torch
    from util.config import Config

    trainer_module = importlib.import_module(UPSTREAM_TRAINER_MODULE)
    args = Config(os.path.join(upstream_dir, UPSTREAM_CONFIG))
    for key, value in overrides.items():
        setattr(args, key, value)
    args.load_pretrained = "scratch"
    args.log_id = "bert_side_by_side"
    described = json.loads(json.dumps({key: getattr(args, key) for key in COMPARED_KEYS}))
    data_stand_in = {"iter_per_epoch": 1, "val_loader": types.SimpleNamespace(
        dataset=types.SimpleNamespace(get_cate_num=lambda: args.cls_dim))}
    trainer_module.torch = CpuDeviceTorch(torch)
    try:
        trainer = trainer_module.SketchTransformerTrainer(
            args, data_stand_in, log_dir=os.getcwd(), logger=logging.getLogger("upstream"),
            tensorboard_logger=None)
    finally:
        trainer_module.torch = torch
    return trainer, described, stubbed


def upstream_train_step(trainer, batch):
    """One maskrec training step through upstream's networks, loss and optimizers.

    Args:
        trainer: from `build_upstream_trainer`.
        batch: `(mask_input, stroke, segment, length_mask, mask, target)` tensors, the order and
            dtypes of upstream's loader after its loop's conversions.

    Returns:
        float total loss.
    """
    mask_input, stroke, segment, length_mask, mask, target = batch
    hidden = trainer.models["netE"](mask_input, length_mask, segments=segment, head_mask=None,
                                    **trainer.running_paras)
    outputs = {task: trainer.models[task](hidden) for task in trainer.args.task_types}
    total, _ = trainer.calculate_losses([stroke], [length_mask], [mask], [outputs], [target])
    for optimizer in trainer.opts.values():
        optimizer.zero_grad()
    total.backward()
    for optimizer in trainer.opts.values():
        optimizer.step()
    return total.item()


def upstream_inference(trainer, batch):
    """Upstream's encoder and task heads on `batch` (no gradients); returns the outputs."""
    import torch

    mask_input, _, segment, length_mask, _, _ = batch
    with torch.no_grad():
        hidden = trainer.models["netE"](mask_input, length_mask, segments=segment,
                                        head_mask=None, **trainer.running_paras)
        return {task: trainer.models[task](hidden) for task in trainer.args.task_types}


def check_same_model(described, port_values):
    """Raises a one-line `UserError` when upstream's resolved config differs from the port's.

    Args:
        described: the `COMPARED_KEYS` values upstream's model is built from.
        port_values: the same keys of the port's config (JSON types).
    """
    for key in COMPARED_KEYS:
        if described[key] != port_values[key]:
            raise UserError(f"{key}: the original's {UPSTREAM_CONFIG} gives {described[key]!r}, "
                            f"the port's config {port_values[key]!r}; pass --{key}=... to set "
                            "both")


def measure_upstream(spec):
    """Child process: times upstream's step as `spec` says and prints its `emit` line.

    `emit` reads the peak RSS and the load before it imports TensorFlow for the matmul rate,
    which it measures in this process after the timed runs, as the port's benchmarks do.

    Args:
        spec: dict with `upstream_dir`, `workload` (`train` / `inference`), `batch_file` (an
            `.npz` of `synthetic_batch` arrays), `batch`, `overrides`, `port_values` (the
            `COMPARED_KEYS` of the port's config), `config` (what the line reports), `gflop`,
            `runs`, `threads` and `round`.
    """
    import numpy as np
    import torch

    from bert_common import median_cpu_s, timed_with_cpu
    from common import time_runs

    torch.set_num_threads(spec["threads"])
    trainer, described, stubbed = build_upstream_trainer(spec["upstream_dir"], spec["overrides"])
    check_same_model(described, spec["port_values"])
    with np.load(spec["batch_file"], allow_pickle=False) as arrays:
        batch = (torch.from_numpy(arrays["mask_input"]).float(),
                 torch.from_numpy(arrays["stroke"]).float(),
                 torch.from_numpy(arrays["segment"]).long(),
                 torch.from_numpy(arrays["length_mask"]).float(),
                 torch.from_numpy(arrays["mask"]).float(),
                 torch.from_numpy(arrays["target"]).long())
    if spec["workload"] == "train":
        step = upstream_train_step
    else:
        for network in trainer.models.values():
            network.eval()
        step = upstream_inference
    start = time.perf_counter()
    step(trainer, batch)
    first_call_s = time.perf_counter() - start
    run = timed_with_cpu(lambda: step(trainer, batch))
    times = time_runs(run, runs=spec["runs"], warmup=1)
    emit(BENCH_NAMES[spec["workload"]], spec["config"] | {"code": "upstream",
                                                          "torch": torch.__version__},
         spec["batch"], times, items_per_call=spec["batch"], gflop=spec["gflop"],
         first_call_s=round(first_call_s, 3), cpu_s=median_cpu_s(run, spec["runs"]),
         side="upstream", round=spec["round"], threads=torch.get_num_threads(),
         stubbed_imports=stubbed)
    return 0


def prepare_inputs(spec):
    """Child process: writes the synthetic batches and prints the analytic GFLOP (JSON).

    Kept out of the parent so that the parent never loads TensorFlow: on Linux a child's peak
    RSS starts at its parent's resident size at the fork.

    Args:
        spec: dict with `override_args` (`--key=value` strings), `batches` (workload -> B) and
            `batch_files` (workload -> `.npz` path).
    """
    import numpy as np

    from bert_common import (DEFAULT_CONFIG, analytic_gflop, load_benchmark_config,
                             synthetic_batch)

    config = load_benchmark_config(DEFAULT_CONFIG, spec["override_args"])
    gflop = {}
    for workload, batch_size in spec["batches"].items():
        np.savez(spec["batch_files"][workload], **synthetic_batch(config, batch_size))
        gflop[workload] = analytic_gflop(config, batch_size, training=workload == "train")
    print(json.dumps({"gflop": gflop}), flush=True)
    return 0


def run_self(role, spec, what, environment, work_dir):
    """Runs this script as a `role` child (`--prepare_child`, `--upstream_child`) on `spec`,
    written to a JSON file in `work_dir` (also the child's working folder); returns stdout."""
    spec_path = os.path.join(work_dir, f"spec_{role}.json")
    with open(spec_path, "w") as file:
        json.dump(spec, file)
    return run_child([sys.executable, os.path.abspath(__file__), f"--{role}", spec_path], what,
                     UserError, environment, cwd=work_dir)


def checkout_commit(upstream_dir):
    """The commit of the git checkout `upstream_dir`, or None (not a git clone, no git)."""
    if not os.path.exists(os.path.join(upstream_dir, ".git")):
        return None
    try:
        completed = subprocess.run(["git", "-C", upstream_dir, "rev-parse", "HEAD"],
                                   capture_output=True, text=True)
    except OSError:
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def side_by_side(args, override_args):
    """Parent process: alternates both sides for `args.rounds` rounds and prints every line."""
    args.upstream_dir = check_upstream_dir(args.upstream_dir)
    check_counts(args)
    from bert_common import DEFAULT_CONFIG, describe, load_benchmark_config
    from bert_tf2.config import parse_overrides

    config = load_benchmark_config(DEFAULT_CONFIG, override_args)
    if list(config["task_types"]) != ["maskrec"]:
        raise ConfigError(f"--task_types={list(config['task_types'])}: this benchmark compares "
                          "the maskrec step; leave task_types at ['maskrec']")
    port_values = json.loads(json.dumps({key: config[key] for key in COMPARED_KEYS}))
    environment = {"TF_CPP_MIN_LOG_LEVEL": "2"} | dict(os.environ) | {
        "TF_NUM_INTRAOP_THREADS": str(args.threads)}
    batches = {"train": args.batch_train, "inference": args.batch_infer}
    records = []
    with tempfile.TemporaryDirectory(prefix="bert_side_by_side_") as work_dir:
        batch_files = {workload: os.path.join(work_dir, f"batch_{workload}.npz")
                       for workload in batches}
        prepared = json.loads(run_self(
            "prepare_child", {"override_args": override_args, "batches": batches,
                              "batch_files": batch_files},
            "writing the synthetic batches", environment, work_dir).strip().splitlines()[-1])
        for round_index in range(1, args.rounds + 1):
            for workload, batch_size in batches.items():
                spec = {"upstream_dir": args.upstream_dir, "workload": workload,
                        "batch_file": batch_files[workload], "batch": batch_size,
                        "overrides": parse_overrides(override_args), "port_values": port_values,
                        "config": describe(config), "gflop": prepared["gflop"][workload],
                        "runs": args.runs, "threads": args.threads, "round": round_index}
                record = parse_measurement(
                    run_self("upstream_child", spec,
                             f"the original code's {workload} measurement", environment,
                             work_dir),
                    BENCH_NAMES[workload])
                print(json.dumps(record), flush=True)
                records.append(record)
                command = [sys.executable, os.path.join(BENCH, PORT_SCRIPTS[workload]),
                           "--batch", str(batch_size), "--runs", str(args.runs), *override_args]
                record = parse_measurement(
                    run_child(command, f"bench/{PORT_SCRIPTS[workload]}", UserError,
                              environment),
                    BENCH_NAMES[workload])
                record.update(side="port", round=round_index, threads=args.threads)
                print(json.dumps(record), flush=True)
                records.append(record)
    result = compare_record(
        records, datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        os.getloadavg())
    result.update(config=describe(config), batch_train=args.batch_train,
                  batch_infer=args.batch_infer, runs=args.runs, threads=args.threads,
                  upstream_dir=args.upstream_dir,
                  upstream_commit=checkout_commit(args.upstream_dir))
    print(json.dumps(result), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream_dir",
                        help=f"a checkout of {UPSTREAM_URL} (git clone {UPSTREAM_URL})")
    parser.add_argument("--batch_train", type=int, default=8)
    parser.add_argument("--batch_infer", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="timed calls per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="upstream / port alternations")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch.set_num_threads upstream, TF_NUM_INTRAOP_THREADS for the port")
    parser.add_argument("--upstream_child", help=argparse.SUPPRESS)
    parser.add_argument("--prepare_child", help=argparse.SUPPRESS)
    args, override_args = parser.parse_known_args(argv)
    for role, function in ((args.upstream_child, measure_upstream),
                           (args.prepare_child, prepare_inputs)):
        if role:
            with open(role) as file:
                return function(json.load(file))
    if not args.upstream_dir:
        raise ConfigError(f"--upstream_dir is required: a checkout of {UPSTREAM_URL} "
                          f"(git clone {UPSTREAM_URL})")
    return side_by_side(args, override_args)


if __name__ == "__main__":
    run_tool(main)
