"""Sketch generation throughput of the compiled sampler (random weights, README model sizes).

    python bench/sampling.py [--batch 100] [--max_seq_len 250] [--runs 5]

Prints one JSON line per measurement (DESIGN.md), all stochastic (temperature 0.24):

* `full_length`: one batch that always runs all `max_seq_len` steps (upstream's sampler always
  does) -- the worst case, independent of the weights;
* `stop_at_end`: one batch, each sketch stops at its end token, the call ends with the longest;
* `continuous`: `Sampler.sample_many` over `--codes` codes (slots refilled as sketches end), what
  `sample_abs.py` uses.

`compile_s` is the first call (tracing and XLA compilation). With random weights sketches end
after a few steps (`mean_sketch_len`), so the last two figures flatter a trained model;
`full_length` does not depend on the weights. `full_length` also reports its analytic GFLOP
(`flops.sketchgloc_sampling_flops`) and fraction of the same-process matmul rate (the other two
modes run a data-dependent number of steps).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import emit, time_runs  # noqa: E402
from flops import sketchgloc_sampling_flops  # noqa: E402
from sketchgloc_tf2.hparams import HParams  # noqa: E402
from sketchgloc_tf2.model import SketchGlocModel  # noqa: E402
from sketchgloc_tf2.sampling import Sampler  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max_seq_len", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--codes", type=int, default=1000, help="codes for the continuous mode")
    parser.add_argument("--enc_rnn_size", type=int, default=512)
    parser.add_argument("--dec_rnn_size", type=int, default=512)
    parser.add_argument("--z_size", type=int, default=128)
    args = parser.parse_args(argv)
    hparams = HParams(enc_rnn_size=args.enc_rnn_size, dec_rnn_size=args.dec_rnn_size,
                      z_size=args.z_size, dec_model="hyper", use_recurrent_dropout=False)
    model = SketchGlocModel.from_hparams(hparams)
    z = np.random.default_rng(0).standard_normal((args.batch, args.z_size)).astype(np.float32)
    config = dict(enc_rnn_size=args.enc_rnn_size, dec_rnn_size=args.dec_rnn_size,
                  dec_model="hyper", z_size=args.z_size, max_seq_len=args.max_seq_len,
                  temperature=0.24, xla=True)
    seeds = iter(range(1, 1000000))
    for mode, stop in (("full_length", False), ("stop_at_end", True)):
        sampler = Sampler(model, args.max_seq_len, stop_at_end=stop)
        start = time.perf_counter()
        result = sampler(z, seed=0)
        compile_s = time.perf_counter() - start
        times = time_runs(lambda: sampler(z, seed=next(seeds)), runs=args.runs, warmup=1)
        gflop = None if stop else sketchgloc_sampling_flops(
            "hyper", args.dec_rnn_size, args.z_size, hparams.num_mixture_components,
            args.batch, args.max_seq_len) / 1e9
        emit("sampling", dict(config, mode=mode), args.batch, times, items_per_call=args.batch,
             gflop=gflop,
             compile_s=round(compile_s, 3),
             mean_sketch_len=round(float(np.mean(result.lengths)), 1))
    codes = np.random.default_rng(1).standard_normal((args.codes, args.z_size)).astype(np.float32)
    sampler = Sampler(model, args.max_seq_len)
    start = time.perf_counter()
    sketches = sampler.sample_many(codes[:args.batch], args.batch, seed=0)
    compile_s = time.perf_counter() - start
    times = time_runs(lambda: sampler.sample_many(codes, args.batch, seed=next(seeds)),
                      runs=args.runs, warmup=0)
    emit("sampling", dict(config, mode="continuous", codes=args.codes), args.batch, times,
         items_per_call=args.codes, compile_s=round(compile_s, 3),
         mean_sketch_len=round(float(np.mean([len(s) for s in sketches])), 1))


if __name__ == "__main__":
    main()
