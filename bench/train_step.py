"""Benchmark: one SketchGloc training step (README hparams), time and peak memory.

Model: encoder lstm 512, decoder hyper 512, z 128, recurrent dropout on (keep 0.9), re_scale 0.3,
on the shared real drawings of the eight ds3 categories. Each configuration runs in its own
process (peak RSS is per process): batch 100 and 16, at the padded sizes the data dictates and at
upstream's measured sizes (T=250, L=64, N=25). Upstream at T=250, L=64, N=25: 11.70 s / 12.3 GB
(B=100) and 2.66 s / 4.3 GB (B=16) per step on a 2-core machine.

The measuring process applies `sketch_common.cpu_runtime.tune()` as `train.py` does
(`--untuned_runtime` measures without it).

Run: `python bench/train_step.py [--data_dir DIR] [--batches 100,16] [--runs 5]
[--untuned_runtime]`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import SHARED_DATA, emit  # noqa: E402

UPSTREAM = {100: (11.70, 12300), 16: (2.66, 4300)}
UPSTREAM_SIZES = (250, 64, 25)


def measure(data_dir, batch_size, sizes, runs, tune_cpu_runtime):
    """Times the compiled train step in this process and prints one JSON line."""
    import numpy as np

    from sketch_common import cpu_runtime
    from sketchgloc_tf2 import hparams as hparams_lib
    from sketchgloc_tf2 import training
    from sketchgloc_tf2.data import pipeline

    if tune_cpu_runtime:
        cpu_runtime.tune()
    hparams = hparams_lib.HParams(categories=list(hparams_lib.DS3), batch_size=batch_size,
                                  re_scale=0.3)
    prepared = pipeline.prepare_data(data_dir, hparams)
    if sizes:
        prepared.hparams = prepared.hparams.replace(
            max_seq_len=sizes[0], max_stroke_len=sizes[1], max_strokes_num=sizes[2])
    completed = prepared.hparams
    with tempfile.TemporaryDirectory() as log_root:
        trainer = training.Trainer(prepared, log_root, save_state_steps=0, verbose=False)
        batches = [
            training.model_inputs(batch) for batch in pipeline.training_dataset(
                trainer.train_batcher, batch_size, 0.3, seed=0, epoch=0).take(runs + 1)
        ]
        start = time.perf_counter()
        float(trainer.train_step(batches[0]))
        compile_s = time.perf_counter() - start
        times = []
        for batch in batches[1:]:
            start = time.perf_counter()
            float(trainer.train_step(batch))
            times.append(time.perf_counter() - start)
    upstream_s, upstream_mb = UPSTREAM.get(batch_size, (None, None))
    config = {"enc_model": "lstm", "enc_rnn_size": 512, "dec_model": "hyper",
              "dec_rnn_size": 512, "z_size": 128, "recurrent_dropout": True,
              "T": completed.max_seq_len, "L": completed.max_stroke_len,
              "N": completed.max_strokes_num,
              "sizes": "upstream" if sizes else "data",
              "tune_cpu_runtime": tune_cpu_runtime}
    extra = {"compile_s": round(compile_s, 2)}
    if sizes and upstream_s:
        extra.update(upstream_s=upstream_s, upstream_peak_rss_mb=upstream_mb,
                     speedup=round(upstream_s / float(np.median(times)), 2))
    emit("sketchgloc_train_step", config, batch_size, times, batch_size, **extra)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "quickdraw"))
    parser.add_argument("--batches", default="100,16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--untuned_runtime", action="store_true",
                        help="do not apply sketch_common.cpu_runtime.tune() (as train.py "
                             "--notune_cpu_runtime)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        batch_size, sizes = json.loads(args.one)
        measure(args.data_dir, batch_size, sizes, args.runs, not args.untuned_runtime)
        return 0
    for batch_size in (int(b) for b in args.batches.split(",")):
        for sizes in (None, UPSTREAM_SIZES):
            subprocess.run([sys.executable, __file__, "--data_dir", args.data_dir,
                            "--runs", str(args.runs), "--one", json.dumps([batch_size, sizes])]
                           + (["--untuned_runtime"] if args.untuned_runtime else []), check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
