"""Benchmark: SketchGloc batch construction (README hparams: re_scale 0.3, augmentation 0.1).

Measures, on the shared real drawings of the eight ds3 categories (or on `--data_dir`), the time
to build one training batch of 100 (augmentation, reorganisation noise, nodes, relation boxes,
targets) in numpy, and the throughput of the `tf.data` pipeline that wraps it. Upstream needs
0.45 s per batch of 100 on a 2-core machine.

Run: `python bench/data_pipeline.py [--data_dir DIR] [--batch_size 100]`.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import SHARED_DATA, emit, time_runs  # noqa: E402
from sketchgloc_tf2 import hparams as hparams_lib  # noqa: E402
from sketchgloc_tf2.data import pipeline  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "quickdraw"))
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--batches_per_run", type=int, default=20)
    args = parser.parse_args()
    hparams = hparams_lib.HParams(categories=list(hparams_lib.DS3), re_scale=0.3,
                                  batch_size=args.batch_size)
    prepared = pipeline.prepare_data(args.data_dir, hparams)
    completed = prepared.hparams
    batcher = pipeline.SketchBatcher(prepared.train, completed, augment=True)
    config = {
        "categories": "ds3", "re_scale": 0.3, "augment_stroke_prob": 0.1,
        "random_scale_factor": 0.1, "T": completed.max_seq_len, "L": completed.max_stroke_len,
        "N": completed.max_strokes_num, "train_sketches": len(batcher),
    }
    order = pipeline.epoch_order(len(batcher), 0, 0)
    num_batches = batcher.num_train_batches(args.batch_size)
    counter = iter(range(10 ** 9))

    def build_batches():
        for _ in range(args.batches_per_run):
            step = next(counter) % num_batches
            indices = order[step * args.batch_size:(step + 1) * args.batch_size]
            batcher.batch(indices, 0.3, pipeline.batch_rng(0, 0, step))

    times = [t / args.batches_per_run for t in time_runs(build_batches)]
    emit("sketchgloc_batch_numpy", config, args.batch_size, times, args.batch_size,
         upstream_s=0.45, speedup=round(0.45 / float(np.median(times)), 1))

    def iterate_dataset():
        dataset = pipeline.training_dataset(batcher, args.batch_size, 0.3, seed=1, epoch=0)
        for _ in dataset.take(args.batches_per_run):
            pass

    times = [t / args.batches_per_run for t in time_runs(iterate_dataset, runs=5, warmup=1)]
    emit("sketchgloc_batch_tf_data", config, args.batch_size, times, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
