"""Benchmark: one Sketch-BERT training step (forward with dropout, losses, gradients, Adam).

Default: the published configuration (ALBERT 8 x [12, 768, 3072], max_length 250, maskrec),
batch 8, PyTorch-style Adam (`TorchAdam`), the trainer's own step (`bert_tf2.train_step`) as one
`tf.function`, without XLA as the trainer runs it on a CPU-only machine (`--xla` compiles it with
XLA, the trainer's choice when a GPU or TPU is visible). Upstream (PyTorch, CPU) needs about
5.12 s per maskrec step at batch 8. Reported next to the wall time: `cpu_s` (process CPU time),
the 1-minute load average (the machine may be shared), the analytic GFLOP of the step and its
fraction of the same-process matmul rate.

Run: `python bench/bert_train_step.py [--config FILE.yml] [--batch 8] [--runs 5] [--xla]
[--dtype_policy mixed_bfloat16] [--key=value ...]` (`--key=value` flags override config keys).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bert_common import (analytic_gflop, benchmark_parser, describe,  # noqa: E402
                         load_benchmark_config, median_cpu_s, synthetic_batch, timed_with_cpu)
from common import emit, time_runs  # noqa: E402


def main(argv=None):
    parser = benchmark_parser(__doc__.splitlines()[0], default_batch=8)
    args, overrides = parser.parse_known_args(argv)

    import keras
    import tensorflow as tf

    from bert_tf2.losses import LossSettings
    from bert_tf2.model import build_model
    from bert_tf2.optimizers import TorchAdam
    from bert_tf2.train_step import train_step

    keras.config.set_dtype_policy(args.dtype_policy)
    config = load_benchmark_config(args.config, overrides)
    model = build_model(config)
    settings = LossSettings.from_config(config)
    optimizer = TorchAdam(learning_rate=float(config["learning_rate"]))
    optimizer.build(model.trainable_variables)
    batch = {key: tf.constant(value) for key, value in synthetic_batch(config, args.batch).items()}

    variables = model.trainable_variables
    step = tf.function(lambda values: train_step(model, optimizer, variables, values, settings)[0],
                       jit_compile=args.xla)

    start = time.perf_counter()
    step(batch).numpy()
    compile_s = time.perf_counter() - start
    run = timed_with_cpu(lambda: step(batch).numpy())
    times = time_runs(run, runs=args.runs, warmup=1)
    measured = describe(config) | {"xla": args.xla, "dtype_policy": args.dtype_policy,
                                   "optimizer": "TorchAdam"}
    emit("bert_train_step", measured, args.batch, times, items_per_call=args.batch,
         gflop=analytic_gflop(config, args.batch, training=True),
         compile_s=round(compile_s, 3), cpu_s=median_cpu_s(run, args.runs))


if __name__ == "__main__":
    main()
