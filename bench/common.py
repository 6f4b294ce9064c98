"""Shared helpers of the benchmarks: timing, peak memory and the DESIGN.md JSON line."""

import json
import os
import resource
import statistics
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get(
    "SKETCH_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
         items_per_call: int = 1, **extra) -> dict:
    """Prints and returns one measurement.

    Args:
        bench: benchmark name.
        config: what was measured (sizes, hparams).
        batch: batch size B.
        seconds_per_item_batch: per-run wall times of one call (s).
        items_per_call: sketches processed per call (for `items_per_s`).
        **extra: more fields (e.g. `compile_s`).
    """
    median = statistics.median(seconds_per_item_batch)
    record = {
        "bench": bench,
        "config": config,
        "batch": batch,
        "median_s": round(median, 6),
        "items_per_s": round(items_per_call / median, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cores": os.cpu_count(),
        "runs": len(seconds_per_item_batch),
    }
    record.update(extra)
    print(json.dumps(record), flush=True)
    return record
