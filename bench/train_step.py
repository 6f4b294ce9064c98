"""Benchmark: one SketchGloc training step (README hparams), time and peak memory.

Model: encoder lstm 512, decoder hyper 512, z 128, recurrent dropout on (keep 0.9), re_scale 0.3,
on the shared real drawings of the eight ds3 categories. Each configuration runs in its own
process (peak RSS is per process): batch 100 and 16, at the padded sizes the data dictates and at
upstream's measured sizes (T=250, L=64, N=25). Upstream at T=250, L=64, N=25: 11.70 s / 12.3 GB
(B=100) and 2.66 s / 4.3 GB (B=16) per step on a 2-core machine.

The measuring process applies `sketch_common.cpu_runtime.tune()` as `train.py` does
(`--untuned_runtime` measures without it). Each line reports the process CPU time per step
(`cpu_s`, median), the analytic GFLOP of the step
(`flops.sketchgloc_train_step_flops` with the node counts of the timed batches) and its
fraction of the same-process matmul rate.

`--hparams` (train.py's syntax) is applied after the README hparams and the batch size, so it
may change the model, the categories or the batch; `--sizes T,L,N` pads to given sizes instead
of measuring at the data's and upstream's sizes. `--compare_ref GIT_REF` also measures the code
of that commit (exported with `git archive` to a temporary folder, run by this same script in
its own process): the two alternate for `--rounds` rounds and a last line gives the ratio of
their medians.

Run: `python bench/train_step.py [--data_dir DIR] [--batches 100,16] [--runs 5]
[--untuned_runtime] [--hparams SPEC] [--sizes T,L,N] [--compare_ref GIT_REF [--rounds 3]]`.
Tiny config of issue #14: `--hparams "enc_rnn_size=32,dec_rnn_size=64,z_size=16,batch_size=50"
--sizes 427,64,25 --compare_ref HEAD~1`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (REPO, SHARED_DATA, emit, load_average, required_json_record,  # noqa: E402
                    run_child)
from flops import sketchgloc_batches_gflop  # noqa: E402
from sketch_common.errors import UserError, run_tool  # noqa: E402

UPSTREAM = {100: (11.70, 12300), 16: (2.66, 4300)}
UPSTREAM_SIZES = (250, 64, 25)


def benchmark_hparams(batch_size, spec=""):
    """The README hparams this benchmark trains with (ds3, `re_scale` 0.3, batch
    `batch_size`), then the train.py `--hparams` string `spec`."""
    from sketchgloc_tf2 import hparams as hparams_lib

    return hparams_lib.HParams(categories=list(hparams_lib.DS3), batch_size=batch_size,
                               re_scale=0.3).parse(spec)


def measure(data_dir, batch_size, sizes, runs, tune_cpu_runtime, spec="", code="worktree"):
    """Times the compiled train step in this process and prints one JSON line.

    Args:
        data_dir: folder of the `<category>.npz` drawings.
        batch_size: B (an hparams `spec` may override it).
        sizes: `(T, L, N)` to pad to, or None for the data's sizes.
        runs: timed steps (after one compiling step).
        tune_cpu_runtime: apply `cpu_runtime.tune()` first.
        spec: train.py `--hparams` string applied last.
        code: label of the code measured (`config["code"]`).
    """
    import numpy as np

    from sketch_common import cpu_runtime
    from sketchgloc_tf2 import training
    from sketchgloc_tf2.data import pipeline

    if tune_cpu_runtime:
        cpu_runtime.tune()
    hparams = benchmark_hparams(batch_size, spec)
    batch_size = hparams.batch_size
    prepared = pipeline.prepare_data(data_dir, hparams)
    if sizes:
        prepared.hparams = prepared.hparams.replace(
            max_seq_len=sizes[0], max_stroke_len=sizes[1], max_strokes_num=sizes[2])
    completed = prepared.hparams
    with tempfile.TemporaryDirectory() as log_root:
        trainer = training.Trainer(prepared, log_root, save_state_steps=0, verbose=False)
        batches = [
            training.model_inputs(batch) for batch in pipeline.training_dataset(
                trainer.train_batcher, batch_size, hparams.re_scale, seed=0,
                epoch=0).take(runs + 1)
        ]
        start = time.perf_counter()
        float(trainer.train_step(batches[0]))
        compile_s = time.perf_counter() - start
        times, cpu_times = [], []
        for batch in batches[1:]:
            start, cpu_start = time.perf_counter(), time.process_time()
            float(trainer.train_step(batch))
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    upstream_s, upstream_mb = UPSTREAM.get(batch_size, (None, None))
    config = {"enc_model": completed.enc_model, "enc_rnn_size": completed.enc_rnn_size,
              "dec_model": completed.dec_model, "dec_rnn_size": completed.dec_rnn_size,
              "z_size": completed.z_size, "recurrent_dropout": completed.use_recurrent_dropout,
              "categories": len(completed.categories),
              "T": completed.max_seq_len, "L": completed.max_stroke_len,
              "N": completed.max_strokes_num,
              "sizes": "upstream" if tuple(sizes or ()) == UPSTREAM_SIZES else (
                  "given" if sizes else "data"),
              "tune_cpu_runtime": tune_cpu_runtime, "hparams": spec, "code": code}
    gflop = sketchgloc_batches_gflop(completed, batches[1:], completed.num_mixture_components)
    extra = {"compile_s": round(compile_s, 2),
             "cpu_s": round(statistics.median(cpu_times), 6)}
    if tuple(sizes or ()) == UPSTREAM_SIZES and upstream_s and not spec:
        extra.update(upstream_s=upstream_s, upstream_peak_rss_mb=upstream_mb,
                     speedup=round(upstream_s / float(np.median(times)), 2))
    emit("sketchgloc_train_step", config, batch_size, times, batch_size, gflop=gflop, **extra)


def export_commit(ref, directory):
    """Writes the files of commit `ref` of this repository into `directory` (`git archive`)."""
    archive = subprocess.run(["git", "-C", REPO, "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)


def run_one(args, batch_size, sizes, code_dir, code):
    """Measures one configuration in a child process running the code in `code_dir`; prints
    and returns its JSON record."""
    command = [sys.executable, __file__, "--data_dir", args.data_dir, "--runs", str(args.runs),
               "--hparams", args.hparams, "--code", code,
               "--one", json.dumps([batch_size, sizes])]
    if args.untuned_runtime:
        command.append("--untuned_runtime")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [code_dir] + [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                      if path and os.path.abspath(path) != REPO]))
    what = f"the measurement of the {code} code"
    record = required_json_record(run_child(command, what, UserError, environment),
                                  "sketchgloc_train_step", what, UserError)
    print(json.dumps(record), flush=True)
    return record


def compare(args, batch_size, sizes):
    """Alternates the worktree's code and `args.compare_ref`'s for `args.rounds` rounds and
    prints the ratios of the medians over the rounds of each run's median wall time and
    median process CPU time (`cpu_s`, less sensitive to other processes on a shared machine)."""
    with tempfile.TemporaryDirectory() as ref_dir:
        export_commit(args.compare_ref, ref_dir)
        records = {args.compare_ref: [], "worktree": []}
        for _ in range(args.rounds):
            for code, code_dir in ((args.compare_ref, ref_dir), ("worktree", REPO)):
                records[code].append(run_one(args, batch_size, sizes, code_dir, code))
    ref_s, new_s, ref_cpu_s, new_cpu_s = (
        statistics.median(record[key] for record in records[code])
        for key in ("median_s", "cpu_s") for code in (args.compare_ref, "worktree"))
    print(json.dumps({
        "bench": "sketchgloc_train_step_compare", "config": records["worktree"][0]["config"],
        "batch": records["worktree"][0]["batch"], "ref": args.compare_ref,
        "ref_median_s": round(ref_s, 6), "new_median_s": round(new_s, 6),
        "speedup": round(ref_s / new_s, 2), "ref_cpu_s": round(ref_cpu_s, 6),
        "new_cpu_s": round(new_cpu_s, 6), "cpu_speedup": round(ref_cpu_s / new_cpu_s, 2),
        "rounds": args.rounds,
        "load_average": load_average()}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "quickdraw"))
    parser.add_argument("--batches",
                        help="comma-separated batch sizes (default 100,16, or the batch_size "
                             "of --hparams)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--untuned_runtime", action="store_true",
                        help="do not apply sketch_common.cpu_runtime.tune() (as train.py "
                             "--notune_cpu_runtime)")
    parser.add_argument("--hparams", default="",
                        help="train.py --hparams string applied last (e.g. the tiny config "
                             "'enc_rnn_size=32,dec_rnn_size=64,z_size=16,batch_size=50')")
    parser.add_argument("--sizes", help="T,L,N to pad to (default: the data's and upstream's)")
    parser.add_argument("--compare_ref",
                        help="also measure this git commit's code, alternating with the worktree")
    parser.add_argument("--rounds", type=int, default=3, help="alternations with --compare_ref")
    parser.add_argument("--code", default="worktree", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        batch_size, sizes = json.loads(args.one)
        measure(args.data_dir, batch_size, sizes, args.runs, not args.untuned_runtime,
                args.hparams, args.code)
        return 0
    size_choices = ([[int(value) for value in args.sizes.split(",")]] if args.sizes
                    else [None, list(UPSTREAM_SIZES)])
    from sketchgloc_tf2.hparams import parse_hparams

    batches = args.batches or str(parse_hparams(args.hparams).get("batch_size", "100,16"))
    for batch_size in (int(b) for b in batches.split(",")):
        for sizes in size_choices:
            if args.compare_ref:
                compare(args, batch_size, sizes)
            else:
                run_one(args, batch_size, sizes, REPO, "worktree")
    return 0


if __name__ == "__main__":
    run_tool(main)
