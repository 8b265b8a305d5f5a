"""Real servers on loopback for integration tests: an S3 API (moto), PostgreSQL, and a
standalone Spark master + worker. Each is a context manager that starts the server as a
subprocess on a free 127.0.0.1 port and stops it on exit, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pyspark

LOOPBACK = "127.0.0.1"
SPARK_HOME = Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0,
               process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``check`` until it is true; fail with the server's log if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        with contextlib.suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s\n{tail}")


def _stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """moto's S3-compatible server (all AWS APIs it emulates); yields its endpoint URL."""
    port = free_port()
    log = log_dir / "moto.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(lambda: _http_ok(f"{endpoint}/moto-api/"), "moto server", 30, process, log)
        yield endpoint
    finally:
        _stop(process)


class PostgresServer:
    """A throwaway PostgreSQL cluster: initdb in a temp dir, TCP on a free loopback port.

    PostgreSQL refuses to run as root, so under root its binaries run as the ``postgres``
    user that Debian's package creates (``runuser -u postgres --``).
    """

    user = "etl"
    password = "etl-test-password"

    def __init__(self) -> None:
        self.bin_dir = _postgres_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="etl-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root needs the 'postgres' user: make setup "
                                   "installs the postgresql package, which creates it") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user,
                  f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -h {LOOPBACK} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")
        self.sql("CREATE DATABASE retail", database="postgres")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{LOOPBACK}:{self.port}/retail"

    def sql(self, statements: str, database: str = "retail") -> str:
        """Run SQL with psql over TCP as the test user; return psql's unaligned output."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", statements],
            capture_output=True, text=True, env={**os.environ, "PGPASSWORD": self.password},
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _postgres_bin_dir() -> Path:
    def version(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql: "
                           "run `make setup` (it installs Debian's postgresql package)")
    return candidates[-1].parent


class SparkStandalone:
    """A standalone Spark master and one worker on loopback, from the pip pyspark."""

    def __init__(self, work_dir: Path, cores: int = 2, memory: str = "1g") -> None:
        self.work_dir = work_dir
        self.cores, self.memory = cores, memory
        self.port, self.ui_port, self.worker_ui_port = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen] = []

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": LOOPBACK,
                "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}

    def _spawn(self, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.work_dir / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args],
                                       stdout=out, stderr=subprocess.STDOUT, env=self.env())
        self.processes.append(process)
        return process, log

    def _alive_workers(self) -> int:
        url = f"http://{LOOPBACK}:{self.ui_port}/json/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(json.load(response).get("aliveworkers", 0))

    def __enter__(self) -> SparkStandalone:
        try:
            master, log = self._spawn(
                "master", "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                "--port", str(self.port), "--webui-port", str(self.ui_port))
            wait_until(lambda: self._alive_workers() >= 0, "Spark master", 90, master, log)
            (self.work_dir / "worker").mkdir(exist_ok=True)
            worker, wlog = self._spawn(
                "worker", "org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK,
                "--cores", str(self.cores), "--memory", self.memory,
                "--work-dir", str(self.work_dir / "worker"),
                "--webui-port", str(self.worker_ui_port), self.master_url)
            wait_until(lambda: self._alive_workers() >= 1, "Spark worker", 90, worker, wlog)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            _stop(process)
        self.processes.clear()

    def logs(self) -> str:
        """The master's and worker's logs, for a failure message."""
        parts = []
        for name in ("master", "worker"):
            path = self.work_dir / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)
