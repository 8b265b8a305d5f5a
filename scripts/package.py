"""Build the deployable artifacts into dist/ (``make package``).

dist/
  retail_etl-<version>-py3-none-any.whl   etl_lib + its conf, for pip / --additional-python-modules
  etl_lib.zip                             etl_lib + its conf, for spark-submit --py-files
  jobs/*.py                               the job scripts (each is a Glue script / EMR step / Dataproc job)
  manifest.json                           version, runtime Python pins, Maven coordinates per platform

The conf/ YAML files travel inside the package as etl_lib/_conf, so a job on a cluster
validates the same configuration as on a laptop (override with ETL_CONF_DIR or --conf).
"""

from __future__ import annotations

import argparse
import configparser
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from etl_lib import __version__, versions  # noqa: E402
from etl_lib.config import load_config  # noqa: E402
from etl_lib.session import required_packages  # noqa: E402

PLATFORMS = ("local", "emr", "glue", "dataproc")


def _stage_sources(stage: Path) -> None:
    """Copy the package sources plus conf/ (as etl_lib/_conf) into ``stage``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "etl_lib", stage / "etl_lib", ignore=ignore)
    shutil.copytree(REPO / "conf", stage / "etl_lib" / "_conf", ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, stage / name)
    cfg = stage / "setup.cfg"
    text = cfg.read_text()
    if "etl_lib = py.typed\n" not in text:
        raise SystemExit("setup.cfg [options.package_data] must read 'etl_lib = py.typed'")
    cfg.write_text(text.replace("etl_lib = py.typed\n", "etl_lib = py.typed, _conf/*.yaml\n"))


def build_wheel(stage: Path, out: Path) -> Path:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(stage)],
        capture_output=True, text=True,
    )
    if build.returncode != 0:
        sys.stderr.write(build.stdout + build.stderr)
        raise SystemExit(f"wheel build failed (exit {build.returncode})")
    return next(out.glob("retail_etl-*.whl"))


def build_zip(stage: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((stage / "etl_lib").rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(stage))
    return target


def copy_jobs(out: Path) -> list[str]:
    jobs_dir = out / "jobs"
    jobs_dir.mkdir()
    names = []
    for script in sorted((REPO / "jobs").glob("*.py")):
        if script.name != "__init__.py":
            shutil.copy2(script, jobs_dir / script.name)
            names.append(script.name)
    return names


def runtime_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    raw = parser.get("options", "install_requires")
    return [line.strip() for line in raw.splitlines() if line.strip()]


def manifest(job_scripts: list[str], wheel: Path) -> dict:
    maven = {env: required_packages(load_config(env)) for env in PLATFORMS}
    return {
        "name": "retail-etl",
        "version": __version__,
        "spark": versions.SPARK_VERSION,
        "scala": versions.SCALA_BINARY,
        "wheel": wheel.name,
        "py_files": "etl_lib.zip",
        "jobs": [f"jobs/{name}" for name in job_scripts],
        "python_requirements": runtime_requirements(),
        "maven_packages": maven,
        "maven_by_capability": {cap: list(coords) for cap, coords in versions.PACKAGES.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Build dist/: wheel, --py-files zip, jobs, manifest.")
    parser.add_argument("--out", default="dist", type=Path)
    args = parser.parse_args()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        _stage_sources(stage)
        wheel = build_wheel(stage, out)
        build_zip(stage, out / "etl_lib.zip")
    scripts = copy_jobs(out)
    (out / "manifest.json").write_text(json.dumps(manifest(scripts, wheel), indent=2) + "\n")
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(out.parent) if out.parent != Path('.') else path}  "
                  f"{path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
