"""Shared helpers of the benchmark workers (scripts/bench_*.py): sessions, metrics, output.

Each worker runs in its own process (so peak memory and session start belong to one
measurement) and prints its figures as one ``BENCH_RESULT {json}`` line on stdout.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULT_PREFIX = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    """Print the worker's result line (the orchestrator reads the last one)."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def lines_label(lines: int) -> str:
    """2_500_000 -> '2.5M', 20_000_000 -> '20M', 100_000 -> '0.1M'."""
    return f"{lines / 1e6:g}M"


def parse_lines(text: str) -> int:
    """'2.5M' -> 2_500_000, '200k' -> 200_000, '1000' -> 1000."""
    text = text.strip().upper()
    factor = {"M": 1_000_000, "K": 1_000}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "MK" else text
    value = float(number) * factor
    if value < 1:
        raise ValueError(f"{text!r} is not a positive line count")
    return int(value)


def spark_session(app: str, overrides: Sequence[str] = ()) -> tuple[Any, Any, float]:
    """The project's local session (conf/local.yaml + overrides); returns it, conf, start seconds."""
    from etl_lib.config import load_config
    from etl_lib.session import build_session

    config = load_config("local", list(overrides))
    began = time.perf_counter()
    spark = build_session(config, app)
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).count()  # the JVM, Ivy resolution and the first job are part of start-up
    return spark, config, time.perf_counter() - began


def jvm_pid(spark: Any) -> int:
    return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of process ``pid`` (default: this Python process)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def rest(spark: Any, path: str) -> Any:
    """GET ``/api/v1/applications/<app>/<path>`` from the driver UI (spark.ui.enabled)."""
    base = spark.sparkContext.uiWebUrl
    if not base:
        raise RuntimeError("the Spark UI is off: start the session with spark.ui_enabled=true")
    url = f"{base}/api/v1/applications/{spark.sparkContext.applicationId}/{path}"
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


#: Thread-name prefixes of a HotSpot JVM running Spark, by what the threads do (Linux keeps
#: the first 15 characters of a name: "Executor task l", "C2 CompilerThre").
_THREAD_ROLES = (("Executor task", "tasks"), ("C1 Compiler", "jit"), ("C2 Compiler", "jit"),
                 ("GC Thread", "gc"), ("VM Thread", "gc"))


def jvm_cpu_s(pid: int) -> dict[str, dict[str, float]]:
    """CPU seconds so far of JVM ``pid`` by thread role, user and kernel time apart.

    Roles: ``tasks`` (Spark's task threads), ``jit`` (the C1/C2 compiler threads), ``gc``
    (the collector's threads and the VM thread that runs its pauses) and ``other`` (the
    rest of the process, exited threads included). Linux only (/proc); {} elsewhere.
    Subtract two readings (:func:`cpu_between`) to see where a stretch of work went.
    """
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return {}
    tick = os.sysconf("SC_CLK_TCK")

    def user_sys(stat: str) -> tuple[float, float]:
        fields = stat.rsplit(")", 1)[1].split()  # the name before ")" may hold spaces
        return int(fields[11]) / tick, int(fields[12]) / tick

    roles = {role: [0.0, 0.0] for role in ("tasks", "jit", "gc", "other")}
    total_user, total_sys = user_sys((proc / "stat").read_text())
    for thread in (proc / "task").iterdir():
        try:
            name = (thread / "comm").read_text().strip()
            user, sys_ = user_sys((thread / "stat").read_text())
        except OSError:  # the thread ended while we listed them
            continue
        role = next((r for prefix, r in _THREAD_ROLES if name.startswith(prefix)), None)
        if role:
            roles[role][0] += user
            roles[role][1] += sys_
    roles["other"] = [total_user - sum(r[0] for r in roles.values()),
                      total_sys - sum(r[1] for r in roles.values())]
    return {role: {"user": user, "sys": sys_} for role, (user, sys_) in roles.items()}


def cpu_between(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """The CPU seconds each role used between two :func:`jvm_cpu_s` readings."""
    return {
        role: {kind: round(after[role][kind] - before[role][kind], 1) for kind in ("user", "sys")}
        for role in after if role in before
    }


def driver_heap_peak_mb(spark: Any) -> float | None:
    """Peak JVM heap of the driver (local mode: driver and executor are one JVM)."""
    for executor in rest(spark, "executors"):
        peaks = executor.get("peakMemoryMetrics") or {}
        if executor["id"] == "driver" and "JVMHeapMemory" in peaks:
            return peaks["JVMHeapMemory"] / 2**20
    return None


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = action()
    return time.perf_counter() - began, value


def median_time(action: Callable[[], Any], repeats: int, warmups: int = 1) -> float:
    for _ in range(warmups):
        action()
    return statistics.median(timed(action)[0] for _ in range(repeats))


def machine() -> str:
    """CPU model, cores visible to this process, RAM and OS, in one line."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {ram:.0f} GB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
