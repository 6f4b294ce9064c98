"""Sketch generation throughput of the compiled sampler (random weights, README model sizes).

    python bench/sampling.py [--batch 100] [--max_seq_len 250] [--runs 5]

Prints one JSON line per measurement (DESIGN.md): stochastic sampling that stops each sketch at
its end token (`stop_at_end`), and the worst case that always runs all `max_seq_len` steps
(`full_length`, what upstream's sampler always does). `compile_s` is the first call (tracing and
XLA compilation). Random weights emit the end token early, so the `stop_at_end` figure depends on
the weights; `full_length` does not.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import emit, time_runs  # noqa: E402
from sketchgloc_tf2.hparams import HParams  # noqa: E402
from sketchgloc_tf2.model import SketchGlocModel  # noqa: E402
from sketchgloc_tf2.sampling import Sampler  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max_seq_len", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--enc_rnn_size", type=int, default=512)
    parser.add_argument("--dec_rnn_size", type=int, default=512)
    parser.add_argument("--z_size", type=int, default=128)
    args = parser.parse_args(argv)
    hparams = HParams(enc_rnn_size=args.enc_rnn_size, dec_rnn_size=args.dec_rnn_size,
                      z_size=args.z_size, dec_model="hyper", use_recurrent_dropout=False)
    model = SketchGlocModel(hparams)
    z = np.random.default_rng(0).standard_normal((args.batch, args.z_size)).astype(np.float32)
    config = dict(enc_rnn_size=args.enc_rnn_size, dec_rnn_size=args.dec_rnn_size,
                  dec_model="hyper", z_size=args.z_size, max_seq_len=args.max_seq_len,
                  temperature=0.24, xla=True)
    for mode, stop in (("stop_at_end", True), ("full_length", False)):
        sampler = Sampler(model, args.max_seq_len, stop_at_end=stop)
        start = time.perf_counter()
        result = sampler(z, seed=0)
        compile_s = time.perf_counter() - start
        seeds = iter(range(1, 1000))
        times = time_runs(lambda: sampler(z, seed=next(seeds)), runs=args.runs, warmup=1)
        emit("sampling", dict(config, mode=mode), args.batch, times, items_per_call=args.batch,
             compile_s=round(compile_s, 3),
             mean_sketch_len=round(float(np.mean(result.lengths)), 1))


if __name__ == "__main__":
    main()
