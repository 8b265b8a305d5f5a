"""What every deploy spec is rendered from: one environment's validated conf, the job
scripts in jobs/, the runtime pins of setup.cfg and the Maven pins of etl_lib/versions.py.

Nothing here is copied by hand into a spec: bucket names come from ``landing.root``,
artifact locations from ``deploy.artifacts_uri``, Spark settings from
:func:`etl_lib.session.session_conf`, job names from the files in jobs/.
"""

from __future__ import annotations

import ast
import configparser
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from etl_lib import versions
from etl_lib.config import AppConfig, load_config
from etl_lib.deploy_settings import DeploySettings
from etl_lib.session import required_packages, session_conf

REPO = Path(__file__).resolve().parent.parent
#: Stands for the business day in per-run specs; `deploy.py render --run-date` fills it in.
RUN_DATE = "${RUN_DATE}"
ZIP_NAME = "etl_lib.zip"

__all__ = ["DeployError", "JobScript", "RenderContext", "RUN_DATE", "entry_points"]


class DeployError(ValueError):
    """A spec cannot be rendered or applied as configured; the message says what to set."""


@dataclass(frozen=True)
class JobScript:
    """A job entry point: jobs/<name>.py with a ``main`` and an ``if __name__`` guard."""

    name: str
    path: Path
    #: JVM capabilities the job declares beyond the platform's (module ``CAPABILITIES``).
    capabilities: tuple[str, ...] = ()


def entry_points(jobs_dir: Path = REPO / "jobs") -> dict[str, JobScript]:
    """The job scripts of ``jobs_dir`` that can be submitted, by name (read, not imported)."""
    found: dict[str, JobScript] = {}
    for path in sorted(jobs_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has_main = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
        guarded = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)
                      for n in tree.body)
        if has_main and guarded:
            found[path.stem] = JobScript(path.stem, path, _capabilities(tree, path))
    return found


def _capabilities(tree: ast.Module, path: Path) -> tuple[str, ...]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "CAPABILITIES" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            unknown = sorted(set(value) - set(versions.PACKAGES))
            if unknown:
                raise DeployError(f"{path.name}: unknown CAPABILITIES {unknown}")
            return tuple(value)
    return ()


@dataclass
class RenderContext:
    """One environment's conf plus what the renderers derive from it."""

    env: str
    config: AppConfig
    run_date: str = RUN_DATE
    jobs: dict[str, JobScript] = field(default_factory=entry_points)

    @classmethod
    def load(cls, env: str, overrides: tuple[str, ...] = (), run_date: str | None = None,
             conf_dir: Path | None = None) -> RenderContext:
        return cls(env, load_config(env, overrides, conf_dir), run_date or RUN_DATE)

    @property
    def deploy(self) -> DeploySettings:
        if self.config.deploy is None:
            raise DeployError(f"conf/{self.env}.yaml has no deploy: section")
        return self.config.deploy

    def section(self, name: str) -> Any:
        """``deploy.<name>``, or a DeployError naming the overlay to add it to."""
        value = getattr(self.deploy, name)
        if value is None:
            raise DeployError(f"deploy.{name} is not set in conf/{self.env}.yaml")
        return value

    @property
    def artifacts(self) -> str:
        """Where dist/ is uploaded (deploy.artifacts_uri)."""
        if not self.deploy.artifacts_uri:
            raise DeployError(f"deploy.artifacts_uri is not set in conf/{self.env}.yaml")
        return self.deploy.artifacts_uri

    def script_uri(self, job: str) -> str:
        return f"{self.artifacts}/jobs/{self.job(job).path.name}"

    def job(self, name: str) -> JobScript:
        try:
            return self.jobs[name]
        except KeyError:
            raise DeployError(
                f"job {name!r} (conf/{self.env}.yaml) has no entry point jobs/{name}.py "
                f"(known: {', '.join(sorted(self.jobs))})"
            ) from None

    def py_files(self, job: str) -> list[str]:
        """The etl_lib zip, plus the step scripts the pipeline job imports by name."""
        uris = [f"{self.artifacts}/{ZIP_NAME}"]
        if job == "pipeline":
            steps = self.config.jobs.get("pipeline", {}).get("steps", [])
            uris += [self.script_uri(step) for step in steps]
        return uris

    def packages(self, job: str) -> list[str]:
        """Maven coordinates a run of ``job`` needs on this platform."""
        extra = [c for cap in self.job(job).capabilities for c in versions.PACKAGES[cap]]
        return list(dict.fromkeys([*required_packages(self.config), *extra]))

    def spark_conf(self, job: str, platform: str) -> dict[str, str]:
        """Every Spark setting to pass at submit time (nothing is left to the builder)."""
        conf = session_conf(self.config, platform)
        packages = self.packages(job)
        if packages:
            conf["spark.jars.packages"] = ",".join(packages)
        for key, value in conf.items():
            if any(ch.isspace() for ch in value):
                raise DeployError(f"Spark setting {key} has whitespace in its value: {value!r}")
        return dict(sorted(conf.items()))

    def job_args(self, run_date: str | None = None) -> list[str]:
        return ["--env", self.env, "--run-date", run_date or self.run_date]

    @cached_property
    def python_requirements(self) -> list[str]:
        """The runtime pins of setup.cfg ``install_requires`` (what clusters must install)."""
        parser = configparser.ConfigParser()
        parser.read(REPO / "setup.cfg")
        raw = parser.get("options", "install_requires")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def landing_location(self) -> tuple[str, str]:
        """(bucket, key prefix) of ``landing.root`` on S3."""
        root = self.config.landing.root
        scheme, _, rest = root.partition("://")
        if scheme not in ("s3", "s3a") or not rest:
            raise DeployError(f"landing.root {root!r} (conf/{self.env}.yaml) is not on S3")
        bucket, _, prefix = rest.partition("/")
        return bucket, prefix.strip("/")

    def scheduled_jobs(self) -> dict[str, list[str]]:
        """deploy.schedule.stages, every job checked against jobs/."""
        schedule = self.section("schedule")
        for jobs in schedule.stages.values():
            for job in jobs:
                self.job(job)
        return schedule.stages

