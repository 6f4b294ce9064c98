"""Benchmark: Sketch-BERT inference (encoder + task heads, dropout off, one tf.function).

Default: the published configuration (ALBERT 8 x [12, 768, 3072], max_length 250, maskrec head),
batch 32, every one of the 250 rows computed as upstream does. Upstream (PyTorch, CPU) needs about
5.5 s per batch of 32 (5.76 sketches/s). `--xla` compiles the forward pass with XLA. Reported next
to the wall time: `cpu_s` (process CPU time), the 1-minute load average, the analytic GFLOP and
its fraction of the same-process matmul rate.

`--trim_padding` instead draws the sketch lengths from the real drawings (`--data_dir`, default
the shared QuickDraw folder) and runs `bert_tf2.inference.TrimmedPredictor`, which computes only
the rows up to the longest sketch of the batch (rounded up to `--bucket_size`); the batch timed
is one whose row count is the median over 200 random batches (reported as `rows`).

Run: `python bench/bert_inference.py [--config FILE.yml] [--batch 32] [--runs 5] [--xla]
[--trim_padding] [--dtype_policy mixed_bfloat16] [--key=value ...]` (`--key=value` flags
override config keys).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bert_common import (analytic_gflop, benchmark_parser, describe,  # noqa: E402
                         load_benchmark_config, median_cpu_s, quickdraw_lengths,
                         synthetic_batch, timed_with_cpu)
from common import SHARED_DATA, emit, time_runs  # noqa: E402


def main(argv=None):
    parser = benchmark_parser(__doc__.splitlines()[0], default_batch=32)
    parser.add_argument("--trim_padding", action="store_true",
                        help="real sketch lengths, compute only the used rows")
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "quickdraw"))
    parser.add_argument("--bucket_size", type=int, default=25)
    args, overrides = parser.parse_known_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf2.model import build_model

    keras.config.set_dtype_policy(args.dtype_policy)
    config = load_benchmark_config(args.config, overrides)
    model = build_model(config)
    measured = describe(config) | {"xla": args.xla, "dtype_policy": args.dtype_policy}
    if args.trim_padding:
        from bert_tf2.inference import TrimmedPredictor, used_rows

        pool = quickdraw_lengths(args.data_dir)
        candidates = [synthetic_batch(config, args.batch, seed=seed, lengths=pool)
                      for seed in range(200)]
        rows = [used_rows(candidate["length_mask"], args.bucket_size)
                for candidate in candidates]
        batch = candidates[int(np.argsort(rows)[len(rows) // 2])]
        measured.update(trim_padding=True, bucket_size=args.bucket_size,
                        rows=used_rows(batch["length_mask"], args.bucket_size),
                        sketches_in_length_pool=int(pool.size))
        forward = TrimmedPredictor(model, args.bucket_size, jit_compile=args.xla)
        inputs = {key: batch[key] for key in ("mask_input", "length_mask")}
    else:
        batch = synthetic_batch(config, args.batch)
        inputs = {key: tf.constant(batch[key]) for key in ("mask_input", "length_mask")}
        forward = tf.function(lambda values: model(values, training=False),
                              jit_compile=args.xla)
    start = time.perf_counter()
    tf.nest.map_structure(np.asarray, forward(inputs))
    compile_s = time.perf_counter() - start

    @timed_with_cpu
    def run():
        tf.nest.map_structure(np.asarray, forward(inputs))

    times = time_runs(run, runs=args.runs, warmup=1)
    members = 3 if "sketchretrieval" in config["task_types"] else 1
    emit("bert_inference", measured, args.batch, times, items_per_call=args.batch * members,
         gflop=analytic_gflop(config, args.batch, training=False, rows=measured.get("rows")),
         compile_s=round(compile_s, 3), cpu_s=median_cpu_s(run, args.runs))


if __name__ == "__main__":
    main()
