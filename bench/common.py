"""Shared helpers of the benchmarks: timing, peak memory, the same-process matmul rate and the
DESIGN.md JSON line with its rate fields."""

import functools
import json
import os
import resource
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get(
    "SKETCH_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_average() -> float:
    """The 1-minute load average of the machine (processes running or waiting for a core)."""
    return round(os.getloadavg()[0], 2)


@functools.lru_cache(maxsize=None)
def matmul_peak_gflop_per_s(size: int = 2048, runs: int = 7) -> float:
    """The best rate of a plain float32 `tf.matmul` of two `[size, size]` matrices, GFLOP/s.

    Measured once per process (cached), with the process's own thread settings, so that
    `fraction_of_peak` compares a workload against what TensorFlow's matmul reaches on the same
    machine at the same time. Best of `runs` after one warm-up call.
    """
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(0)
    left = generator.normal([size, size])
    right = generator.normal([size, size])
    tf.matmul(left, right).numpy()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        tf.matmul(left, right).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9


def run_child(command: list, what: str, error_type, environment: dict = None,
              cwd: str = None) -> str:
    """Runs a measuring child process and returns its stdout.

    Args:
        command: the argument list.
        what: what the child measures, for the error message.
        error_type: the exception class raised on failure (a one-line user error).
        environment: the child's environment (default: this process's).
        cwd: the child's working folder.

    Raises:
        error_type: the child failed; the message carries its last `error:` line (or its last
        stderr line).
    """
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=environment, cwd=cwd)
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        reason = (errors[-1][len("error: "):] if errors
                  else lines[-1] if lines else "no message")
        raise error_type(f"{what} failed (exit status {completed.returncode}): {reason}")
    return completed.stdout


def last_json_record(output: str, bench: str):
    """The last JSON line of a benchmark's stdout whose `bench` is `bench`, or None.

    Args:
        output: a child process's stdout; lines that are not JSON objects (logs) are skipped.
        bench: the benchmark name to look for.
    """
    found = None
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("bench") == bench:
            found = record
    return found


def required_json_record(output: str, bench: str, what: str, error_type) -> dict:
    """`last_json_record(output, bench)`, which must exist.

    Raises:
        error_type: `output` has no such line; the message names `what` printed it.
    """
    record = last_json_record(output, bench)
    if record is None:
        raise error_type(f"{what} printed no '{bench}' JSON line")
    return record


def time_runs(function, runs: int = 7, warmup: int = 2) -> list:
    """Calls `function` `warmup` times, then returns the wall time of each of `runs` calls (s)."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def emit(bench: str, config: dict, batch: int, seconds_per_item_batch: list,
         items_per_call: int = 1, gflop: float = None, peak_gflop_per_s: float = None,
         **extra) -> dict:
    """Prints and returns one measurement.

    Besides the DESIGN.md keys, the line holds `load_average` (1 minute, read after the runs),
    `peak_gflop_per_s` (`matmul_peak_gflop_per_s`, measured after the runs) and, when `gflop`
    is given, `gflop`, `gflop_per_s` (at the median time) and `fraction_of_peak`.

    Args:
        bench: benchmark name.
        config: what was measured (sizes, hparams).
        batch: batch size B.
        seconds_per_item_batch: per-run wall times of one call (s).
        items_per_call: sketches processed per call (for `items_per_s`).
        gflop: analytic GFLOP of one call (`flops.py`), or None.
        peak_gflop_per_s: the same-process matmul rate when the caller measured it itself
            (e.g. in a TF1 session, where the eager `matmul_peak_gflop_per_s` cannot run).
        **extra: more fields (e.g. `compile_s`).
    """
    median = statistics.median(seconds_per_item_batch)
    rss_mb = peak_rss_mb()
    load = load_average()
    peak = peak_gflop_per_s or matmul_peak_gflop_per_s()
    record = {
        "bench": bench,
        "config": config,
        "batch": batch,
        "median_s": round(median, 6),
        "items_per_s": round(items_per_call / median, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "cores": os.cpu_count(),
        "runs": len(seconds_per_item_batch),
        "load_average": load,
        "peak_gflop_per_s": round(peak, 1),
    }
    if gflop is not None:
        record.update(gflop=round(gflop, 3), gflop_per_s=round(gflop / median, 2),
                      fraction_of_peak=round(gflop / median / peak, 3))
    record.update(extra)
    print(json.dumps(record), flush=True)
    return record
