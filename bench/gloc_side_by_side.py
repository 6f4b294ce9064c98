"""Benchmark: the original SketchGloc training step and this port's, side by side in one run.

The original code is not part of this repository: `--upstream_dir` is a checkout of
https://github.com/CMACH508/SketchGloc (`git clone https://github.com/CMACH508/SketchGloc`).
Its `rebranch/` modules are imported at run time, in their own process, under `tf.compat.v1`
with TensorFlow 2's behaviour disabled (`bench/upstream_tf1.py` supplies the TF1 names and the
two `tf.contrib` stand-ins the graph needs). That process builds the original `Model` with the
port's completed hparams (README configuration: lstm 512 encoder, hyper 512 decoder, z 128,
recurrent dropout keep 0.9, `re_scale` 0.3, plus `--hparams`) at the sizes `--sizes`
(default upstream's T=250, L=64, N=25), and times its training step (`sess.run` of the losses,
`z` and `train_op`, what its training loop fetches) in a session with 2 intra-op and 2 inter-op
threads: one warm-up step, then `--runs` steps (median).

Both sides train on the same batches: the first `runs + 1` training batches (seed 0, epoch 0)
of the real drawings of the eight ds3 categories, built by the port's data pipeline in a helper
process exactly as `bench/train_step.py` builds them; the port side is `bench/train_step.py
--batches B --sizes T,L,N --runs R --hparams SPEC` run as a child process. The two alternate
for `--rounds` rounds per batch size; every measurement prints its JSON line, and each batch
size ends with a `gloc_side_by_side_compare` line: the medians over the rounds of each side's
median step time and CPU time, their ratios (original / port, > 1 means the port is faster),
the load averages and the date.

`gflop` on the original's lines is the port's analytic count of the same batch
(`flops.sketchgloc_train_step_flops`, the useful work). The original graph does more arithmetic
than that: its encoder runs every node row, padding rows included, for the longest row's
length, and its GCN transforms every node slot. Its `fraction_of_peak` is therefore the useful
rate, comparable with the port's.

Run: `python bench/gloc_side_by_side.py --upstream_dir DIR [--batches 100,16] [--runs 3]
[--rounds 2] [--hparams SPEC] [--sizes T,L,N] [--data_dir DIR]`.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from common import SHARED_DATA, load_average, required_json_record  # noqa: E402
from common import run_child as common_run_child  # noqa: E402
from sketch_common.errors import UserError, one_line, run_tool  # noqa: E402
from train_step import UPSTREAM_SIZES, benchmark_hparams  # noqa: E402

UPSTREAM_CODE_FOLDER = "rebranch"
UPSTREAM_FILES = ("model.py", "rnn.py", "Cnn.py")
UPSTREAM_MODEL_MARKERS = ("class Model", "def build_sketchBoard")
UPSTREAM_MIXTURES = 20
THREADS = 2
BATCH_KEYS = ("input_seqs", "input_strokes", "input_stroke_len", "input_strokes_num", "input_box")
PORT_BENCH = "sketchgloc_train_step"
UPSTREAM_BENCH = "sketchgloc_train_step_original"
COMPARE_BENCH = "gloc_side_by_side_compare"


class SideBySideError(UserError):
    """A bad argument, a folder that is not the SketchGloc checkout, or a failed measurement."""


def upstream_code_dir(upstream_dir: str) -> str:
    """The checkout's `rebranch` folder, after checking it holds the original model code.

    Args:
        upstream_dir: the `--upstream_dir` argument.

    Returns:
        Absolute path of `<upstream_dir>/rebranch`.

    Raises:
        SideBySideError: the folder is missing or is not a SketchGloc checkout.
    """
    hint = "clone https://github.com/CMACH508/SketchGloc and pass its folder"
    if not os.path.isdir(upstream_dir):
        raise SideBySideError(f"--upstream_dir {upstream_dir}: no such folder; {hint}")
    code_dir = os.path.abspath(os.path.join(upstream_dir, UPSTREAM_CODE_FOLDER))
    for name in UPSTREAM_FILES:
        if not os.path.isfile(os.path.join(code_dir, name)):
            raise SideBySideError(
                f"--upstream_dir {upstream_dir} is not a SketchGloc checkout: "
                f"{UPSTREAM_CODE_FOLDER}/{name} is missing; {hint}")
    with open(os.path.join(code_dir, "model.py"), encoding="utf-8", errors="replace") as file:
        source = file.read()
    missing = [marker for marker in UPSTREAM_MODEL_MARKERS if marker not in source]
    if missing:
        raise SideBySideError(
            f"--upstream_dir {upstream_dir} is not a SketchGloc checkout: "
            f"{UPSTREAM_CODE_FOLDER}/model.py has no '{missing[0]}'; {hint}")
    return code_dir


def positive_ints(text: str, flag: str, count: int = None) -> list:
    """Parses a comma-separated list of positive integers given to `flag`.

    Raises:
        SideBySideError: not integers, not positive, or not `count` of them.
    """
    try:
        values = [int(value) for value in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1 or (count is not None and len(values) != count):
        size = f"{count} " if count else ""
        raise SideBySideError(
            f"{flag} {text!r}: expected {size}comma-separated positive integers")
    return values


def last_record(output: str, bench: str, source: str) -> dict:
    """The last JSON line of `output` whose `bench` is `bench`.

    Raises:
        SideBySideError: `output` has no such line (names `source`).
    """
    return required_json_record(output, bench, source, SideBySideError)


def compare_record(batch: int, upstream: list, port: list, date: str, load: float) -> dict:
    """The summary line of one batch size from the records of every round.

    Args:
        batch: B.
        upstream: the original's records (one per round; `median_s`, `cpu_s`, ...).
        port: the port's records (`bench/train_step.py` lines), same count.
        date: ISO date and time of the run.
        load: 1-minute load average at the end.

    Returns:
        dict with the medians over the rounds of both sides' median and CPU times, `ratio` and
        `cpu_ratio` (original / port), each record's load average and `fraction_of_peak`.
    """
    def median_of(records, key):
        values = [record[key] for record in records if record.get(key) is not None]
        return round(statistics.median(values), 6) if values else None

    upstream_s, port_s = median_of(upstream, "median_s"), median_of(port, "median_s")
    upstream_cpu_s, port_cpu_s = median_of(upstream, "cpu_s"), median_of(port, "cpu_s")
    config = dict(port[0]["config"])
    config.pop("code", None)
    record = {
        "bench": COMPARE_BENCH, "config": config, "batch": batch, "rounds": len(port),
        "upstream_median_s": round(upstream_s, 6), "port_median_s": round(port_s, 6),
        "ratio": round(upstream_s / port_s, 2),
        "upstream_rounds_s": [record["median_s"] for record in upstream],
        "port_rounds_s": [record["median_s"] for record in port],
        "upstream_peak_rss_mb": max(record["peak_rss_mb"] for record in upstream),
        "port_peak_rss_mb": max(record["peak_rss_mb"] for record in port),
        "upstream_fraction_of_peak": median_of(upstream, "fraction_of_peak"),
        "port_fraction_of_peak": median_of(port, "fraction_of_peak"),
        "load_averages": [record["load_average"] for pair in zip(upstream, port)
                          for record in pair],
        "load_average": load, "date": date,
    }
    if upstream_cpu_s and port_cpu_s:
        record.update(upstream_cpu_s=round(upstream_cpu_s, 6), port_cpu_s=round(port_cpu_s, 6),
                      cpu_ratio=round(upstream_cpu_s / port_cpu_s, 2))
    return record


def run_child(command: list, source: str, environment: dict = None) -> str:
    """`common.run_child` raising `SideBySideError`."""
    return common_run_child(command, source, SideBySideError, environment)


def write_batches(data_dir: str, batch_size: int, sizes: list, runs: int, spec: str,
                  path: str) -> None:
    """Builds the benchmark's training batches with the port's pipeline and saves them.

    The batches and hparams are those `bench/train_step.py` times: README hparams, batch
    `batch_size`, then `spec`, padded to `sizes`; the first `runs + 1` batches of epoch 0,
    seed 0.

    Args:
        data_dir: folder of the `<category>.npz` drawings.
        batch_size: B (`spec` may override it).
        sizes: `[T, L, N]`.
        runs: timed steps (one more batch is written for the warm-up).
        spec: train.py `--hparams` string applied last.
        path: output `.npz` (arrays `<key>_<index>`); the hparams go to `path + ".json"`.
    """
    import itertools

    import numpy as np

    from sketchgloc_tf2.data import pipeline

    hparams = benchmark_hparams(batch_size, spec)
    prepared = pipeline.prepare_data(data_dir, hparams)
    completed = prepared.hparams.replace(
        max_seq_len=sizes[0], max_stroke_len=sizes[1], max_strokes_num=sizes[2])
    batcher = pipeline.SketchBatcher(prepared.train, completed, augment=True)
    batches = list(itertools.islice(
        pipeline.epoch_batches(batcher, completed.batch_size, completed.re_scale, 0, 0),
        runs + 1))
    np.savez(path, **{f"{key}_{index}": np.asarray(batch[key])
                      for index, batch in enumerate(batches) for key in BATCH_KEYS})
    with open(path + ".json", "w", encoding="utf-8") as file:
        json.dump(dict(completed.values(), batches=len(batches)), file)


def session_matmul_peak(config, size: int = 2048, runs: int = 7) -> float:
    """`common.matmul_peak_gflop_per_s` in graph mode: best rate of a float32 `[size, size]`
    product fetched from a session with `config`, GFLOP/s (one warm-up run)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = v1.Graph()
    with graph.as_default():
        left = v1.Variable(v1.random.normal([size, size], seed=1))
        right = v1.Variable(v1.random.normal([size, size], seed=2))
        product = v1.matmul(left, right)
        initialise = v1.global_variables_initializer()
    with v1.Session(graph=graph, config=config) as session:
        session.run(initialise)
        session.run(product)
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            session.run(product)
            best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def _failure_site(error: BaseException, code_dir: str) -> str:
    """`file:line` of the innermost traceback frame inside `code_dir`, or ''."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if os.path.abspath(frame.filename).startswith(code_dir + os.sep)]
    if not frames:
        return ""
    return f" at {UPSTREAM_CODE_FOLDER}/{os.path.basename(frames[-1].filename)}:" \
           f"{frames[-1].lineno}"


def time_upstream(code_dir: str, batch_path: str, runs: int, spec: str) -> dict:
    """Builds the original training graph and times its step; prints one JSON line.

    A step is `sess.run([loss, lil_loss, batch_z, train_op])`, what the original training loop
    fetches.

    Args:
        code_dir: the checkout's `rebranch` folder.
        batch_path: the `.npz` of `write_batches` (its hparams in `batch_path + ".json"`).
        runs: timed steps after the warm-up step.
        spec: the `--hparams` string (reported only; the hparams come from the JSON file).

    Returns:
        The printed record.

    Raises:
        SideBySideError: the original modules cannot be imported or the graph cannot be built
        (names the missing symbol or the failing line).
    """
    import types

    import numpy as np
    import tensorflow as tf

    import common
    from flops import sketchgloc_batches_gflop
    from upstream_tf1 import import_upstream_modules

    v1 = tf.compat.v1
    v1.disable_v2_behavior()
    with open(batch_path + ".json", encoding="utf-8") as file:
        values = json.load(file)
    with np.load(batch_path, allow_pickle=False) as arrays:
        batches = [{key: arrays[f"{key}_{index}"] for key in BATCH_KEYS}
                   for index in range(values["batches"])]
    hps = types.SimpleNamespace(**dict(values, is_training=True))
    start = time.perf_counter()
    graph = v1.Graph()
    try:
        with graph.as_default():
            v1.set_random_seed(0)
            model = import_upstream_modules(code_dir).Model(hps)
            initialise = v1.global_variables_initializer()
    except Exception as error:  # any failure of the original code is reported in one line
        raise SideBySideError(
            f"building the original SketchGloc graph from {code_dir} failed"
            f"{_failure_site(error, code_dir)}: {type(error).__name__}: {one_line(error)}"
        ) from None
    config = v1.ConfigProto(intra_op_parallelism_threads=THREADS,
                            inter_op_parallelism_threads=THREADS)
    placeholders = {key: getattr(model, key) for key in BATCH_KEYS}
    feeds = [{placeholders[key]: batch[key].astype(placeholders[key].dtype.as_numpy_dtype)
              for key in BATCH_KEYS} for batch in batches]
    fetches = [model.loss, model.lil_loss, model.batch_z, model.train_op]
    with v1.Session(graph=graph, config=config) as session:
        session.run(initialise)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        session.run(fetches, feeds[0])
        compile_s = time.perf_counter() - start
        times, cpu_times = [], []
        for feed in feeds[1:]:
            start, cpu_start = time.perf_counter(), time.process_time()
            session.run(fetches, feed)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = session_matmul_peak(config)
    gflop = sketchgloc_batches_gflop(hps, batches[1:], UPSTREAM_MIXTURES)
    config_record = {
        "enc_model": hps.enc_model, "enc_rnn_size": hps.enc_rnn_size,
        "dec_model": hps.dec_model, "dec_rnn_size": hps.dec_rnn_size, "z_size": hps.z_size,
        "recurrent_dropout": hps.use_recurrent_dropout, "categories": len(hps.categories),
        "T": hps.max_seq_len, "L": hps.max_stroke_len, "N": hps.max_strokes_num,
        "hparams": spec, "code": "original (tf.compat.v1)", "tensorflow": tf.__version__,
        "intra_op_threads": THREADS, "inter_op_threads": THREADS}
    return common.emit(UPSTREAM_BENCH, config_record, hps.batch_size, times, hps.batch_size,
                       gflop=gflop, peak_gflop_per_s=peak, build_s=round(build_s, 2),
                       compile_s=round(compile_s, 2), cpu_s=round(statistics.median(cpu_times), 6))


def measure_batch(args, code_dir: str, batch_size: int, sizes: list, work_dir: str) -> None:
    """Writes the batches of one batch size, alternates the two sides for `args.rounds`
    rounds (each line printed as it arrives) and prints the comparison line."""
    batch_path = os.path.join(work_dir, f"batches_{batch_size}.npz")
    run_child([sys.executable, __file__, "--data_dir", args.data_dir, "--runs", str(args.runs),
               "--hparams", args.hparams, "--sizes", args.sizes,
               "--write_batches", json.dumps([batch_size, batch_path])],
              f"building the B={batch_size} batches with the port's pipeline")
    upstream_command = [sys.executable, __file__, "--upstream_dir", args.upstream_dir,
                        "--runs", str(args.runs), "--hparams", args.hparams,
                        "--time_upstream", batch_path]
    port_command = [sys.executable, os.path.join(BENCH_DIR, "train_step.py"),
                    "--data_dir", args.data_dir, "--batches", str(batch_size),
                    "--sizes", args.sizes, "--runs", str(args.runs), "--hparams", args.hparams]
    records = {"original": [], "port": []}
    for _ in range(args.rounds):
        for side, command, bench in (("original", upstream_command, UPSTREAM_BENCH),
                                     ("port", port_command, PORT_BENCH)):
            source = f"the {side} step at B={batch_size}"
            record = last_record(run_child(command, source), bench, source)
            print(json.dumps(record), flush=True)
            records[side].append(record)
    print(json.dumps(compare_record(
        batch_size, records["original"], records["port"],
        datetime.datetime.now().isoformat(timespec="minutes"), load_average())), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream_dir",
                        help="checkout of https://github.com/CMACH508/SketchGloc")
    parser.add_argument("--data_dir", default=os.path.join(SHARED_DATA, "quickdraw"))
    parser.add_argument("--batches", default="100,16", help="comma-separated batch sizes")
    parser.add_argument("--runs", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument("--rounds", type=int, default=2, help="alternations per batch size")
    parser.add_argument("--hparams", default="",
                        help="train.py --hparams string applied to both sides last")
    parser.add_argument("--sizes", default=",".join(map(str, UPSTREAM_SIZES)),
                        help="T,L,N to pad to (default upstream's 250,64,25)")
    parser.add_argument("--write_batches", help=argparse.SUPPRESS)
    parser.add_argument("--time_upstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = positive_ints(args.sizes, "--sizes", 3)
    if args.write_batches:
        batch_size, path = json.loads(args.write_batches)
        write_batches(args.data_dir, batch_size, sizes, args.runs, args.hparams, path)
        return 0
    if not args.upstream_dir:
        raise SideBySideError("--upstream_dir is required: a checkout of "
                              "https://github.com/CMACH508/SketchGloc")
    code_dir = upstream_code_dir(args.upstream_dir)
    if args.time_upstream:
        time_upstream(code_dir, args.time_upstream, args.runs, args.hparams)
        return 0
    batches = positive_ints(args.batches, "--batches")
    positive_ints(f"{args.runs},{args.rounds}", "--runs/--rounds")
    with tempfile.TemporaryDirectory() as work_dir:
        for batch_size in batches:
            measure_batch(args, code_dir, batch_size, sizes, work_dir)
    return 0


if __name__ == "__main__":
    run_tool(main)
