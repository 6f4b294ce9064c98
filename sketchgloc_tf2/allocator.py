"""Process-wide malloc tuning that makes XLA's CPU training steps fast on glibc systems.

XLA's CPU runtime allocates every execution's temporary buffers afresh: one block of hundreds
of MB to several GB per training step. glibc serves blocks above its mmap threshold with `mmap`
and unmaps them on `free`, so each step page-faults its whole working set in again, and on
virtual machines those faults are expensive: measured on the 2-core reference VM, they made up
about a third of a SketchGloc training step (batch 16: 2.2 s -> 1.5 s without them; batch 100:
6.7 s -> 5.7 s). `retain_freed_memory` makes glibc serve every block from its heap and never
give freed heap memory back, so the next step reuses the same pages without faults. The peak
resident size does not grow; the process just keeps its peak footprint until it exits.

The entry points (`train.py`, `python -m bert_tf2`, the tuners, the training benchmarks) call it
before TensorFlow allocates anything, unless `--noretain_freed_memory` is given.
"""

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1


def retain_freed_memory() -> bool:
    """Serves all allocations from the heap and never trims it (glibc `mallopt`).

    Returns:
        True when applied; False when the C library is not glibc (nothing is changed then).
    """
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    libc = ctypes.CDLL(library)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
