"""Shared helpers of the benchmark workers (scripts/bench_*.py): sessions, metrics, output.

Each worker runs in its own process (so peak memory and session start belong to one
measurement) and prints its figures as one ``BENCH_RESULT {json}`` line on stdout.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
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
    """Peak resident memory (VmHWM) of process ``pid`` (default: this Python process).

    Read from /proc, not ``getrusage``: Linux carries a process's ``ru_maxrss`` across
    fork and exec, so a worker would report its parent's peak (bench.py's, after it has
    generated 20M lines) as its own.
    """
    status = Path(f"/proc/{pid or os.getpid()}/status")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in {status}")


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
ROLES = ("tasks", "jit", "gc", "other")


class JvmCpuMeter:
    """CPU seconds JVM ``pid`` spends inside a ``with`` block, by thread role, user and
    kernel time apart (Linux /proc; :meth:`by_role` is {} elsewhere).

    Roles: ``tasks`` (Spark's task threads), ``jit`` (the C1/C2 compiler threads), ``gc``
    (the collector's threads and the VM thread that runs its pauses), ``other`` (the rest
    of the process). Threads are read every ``interval_s`` so that one which ends inside
    the block (Spark ends task threads idle for a minute) still counts for its role, up to
    its last reading; what it used after that counts as ``other``.
    """

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self._proc = Path(f"/proc/{pid}")
        self._interval_s = interval_s
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._first: dict[str, tuple[str, float, float]] = {}
        self._last: dict[str, tuple[str, float, float]] = {}
        self._process_start: tuple[float, float] | None = None
        self._process_end: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> JvmCpuMeter:
        if self._proc.exists():
            self._first = self._role_threads()
            self._process_start = self._user_sys(self._proc / "stat")
            self._sampler.start()
        return self

    def __exit__(self, *_: Any) -> None:
        if self._sampler.is_alive():
            self._stop.set()
            self._sampler.join()
            self._last.update(self._role_threads())
            self._process_end = self._user_sys(self._proc / "stat")

    def by_role(self) -> dict[str, dict[str, float]]:
        """{role: {"user": s, "sys": s}} over the block, or {} without /proc."""
        if self._process_start is None or self._process_end is None:
            return {}
        used = {role: [0.0, 0.0] for role in ROLES}
        for tid, (role, user, sys_) in self._last.items():
            _, user0, sys0 = self._first.get(tid, (role, 0.0, 0.0))
            if user < user0:  # the id of a thread that ended, given to a new one
                user0, sys0 = 0.0, 0.0
            used[role][0] += user - user0
            used[role][1] += sys_ - sys0
        (user0, sys0), (user1, sys1) = self._process_start, self._process_end
        used["other"] = [(user1 - user0) - sum(u for u, _ in used.values()),
                         (sys1 - sys0) - sum(s for _, s in used.values())]
        return {role: {"user": round(u, 1), "sys": round(s, 1)} for role, (u, s) in used.items()}

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._last.update(self._role_threads())

    def _role_threads(self) -> dict[str, tuple[str, float, float]]:
        """{thread id: (role, user s, sys s)} of the threads with a role other than ``other``."""
        found = {}
        for thread in (self._proc / "task").iterdir():
            try:
                name = (thread / "comm").read_text().strip()
                role = next((r for prefix, r in _THREAD_ROLES if name.startswith(prefix)), None)
                if role is not None:
                    found[thread.name] = (role, *self._user_sys(thread / "stat"))
            except OSError:  # the thread ended while we listed them
                continue
        return found

    def _user_sys(self, stat: Path) -> tuple[float, float]:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # a name may hold spaces
        return int(fields[11]) / self._tick, int(fields[12]) / self._tick


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
