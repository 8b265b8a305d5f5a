"""The benchmark's meters: the Spark JVM's CPU goes to the threads that used it, and a
process's peak memory is its own."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.bench_common import ROLES, JvmCpuMeter, jvm_pid, peak_rss_mb

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux /proc")


def _seconds(used: dict[str, dict[str, float]], role: str) -> float:
    return used[role]["user"] + used[role]["sys"]


def test_a_spark_jobs_work_is_counted_on_the_task_threads(spark):
    def job():  # a new frame each time: a rerun of one frame would reuse its shuffle files
        return spark.range(0, 2_000_000, numPartitions=4).selectExpr(
            "sum(length(sha2(cast(id AS string), 256)))")

    job().collect()  # compiled once, so what follows is mostly the tasks' own work
    with JvmCpuMeter(jvm_pid(spark), interval_s=0.1) as meter:
        job().collect()
    used = meter.by_role()
    assert set(used) == set(ROLES)
    assert _seconds(used, "tasks") > 0.5
    assert _seconds(used, "tasks") > max(_seconds(used, role) for role in ("jit", "gc", "other"))


def test_an_idle_jvm_shows_no_task_time(spark):
    with JvmCpuMeter(jvm_pid(spark), interval_s=0.1) as meter:
        time.sleep(0.5)
    used = meter.by_role()
    assert _seconds(used, "tasks") < 0.05


def test_a_workers_peak_memory_is_its_own_not_its_parents():
    # Linux carries ru_maxrss over fork and exec: a worker started by a parent holding
    # 300 MB would report those 300 MB as its own peak.
    size = 300 * 1024 * 1024
    ballast = bytearray(size)
    ballast[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page
    assert peak_rss_mb() >= 300
    worker = subprocess.run(
        [sys.executable, "-c", "from scripts.bench_common import peak_rss_mb; print(peak_rss_mb())"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert float(worker.stdout) < 150
    del ballast
