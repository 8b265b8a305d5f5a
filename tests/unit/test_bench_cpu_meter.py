"""The benchmark's CPU meter attributes the Spark JVM's CPU to the threads that used it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts.bench_common import ROLES, JvmCpuMeter, jvm_pid

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
