"""Process-wide CPU runtime settings (sketch_common/cpu_runtime.py).

The malloc setting lasts for the whole process, so it is applied in a child interpreter: the
rest of the suite keeps the default allocator.
"""

import platform
import subprocess
import sys

import pytest

from sketch_common import cpu_runtime


def test_memory_saving_schedule_is_added_once(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    cpu_runtime.use_memory_saving_schedule()
    cpu_runtime.use_memory_saving_schedule()
    flags = cpu_runtime.os.environ["XLA_FLAGS"].split()
    assert flags == ["--xla_cpu_enable_fast_math=false", cpu_runtime.MEMORY_SAVING_SCHEDULE_FLAG]


def test_memory_saving_schedule_keeps_an_explicit_choice(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_concurrency_optimized_scheduler=true")
    cpu_runtime.use_memory_saving_schedule()
    assert (cpu_runtime.os.environ["XLA_FLAGS"]
            == "--xla_cpu_enable_concurrency_optimized_scheduler=true")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc-only")
def test_retain_freed_memory_applies_on_glibc():
    script = "from sketch_common import cpu_runtime; print(cpu_runtime.retain_freed_memory())"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, check=True)
    assert finished.stdout.strip() == "True"
