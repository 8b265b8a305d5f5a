"""`make package` artifacts submitted with spark-submit to a standalone master + worker on
loopback: the pipeline's tables equal those of the same day run in local mode."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from etl_lib.config import load_config
from etl_lib.io.delta import DeltaWarehouse
from jobs import pipeline
from tests.integration import pipeline_runs as runs
from tests.servers import SPARK_HOME, SparkStandalone

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def _package(out) -> dict:
    done = subprocess.run([sys.executable, str(runs.REPO / "scripts" / "package.py"), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "manifest.json").read_text())


def test_packaged_pipeline_on_standalone_cluster_equals_local_run(
    spark, tmp_path, tmp_path_factory, monkeypatch
):
    monkeypatch.setenv("ETL_PII_KEY", runs.PII_KEY)
    reference = runs.reference(spark, tmp_path_factory.mktemp("reference"))
    dist = tmp_path / "dist"
    manifest = _package(dist)
    steps = load_config("local").job_params("pipeline", pipeline.Params).steps
    py_files = [dist / manifest["py_files"], *(dist / "jobs" / f"{step}.py" for step in steps)]
    day = runs.run_dates()[0]
    warehouse = tmp_path / "warehouse"
    run_dir = tmp_path / "submit"  # not the repo: etl_lib must come from the zip
    run_dir.mkdir()
    with SparkStandalone(tmp_path) as cluster:
        command = [
            str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.master_url,
            "--deploy-mode", "client", "--packages", ",".join(manifest["maven_packages"]["local"]),
            "--executor-memory", "768m", "--total-executor-cores", str(cluster.cores),
            "--py-files", ",".join(str(p) for p in py_files),
            str(dist / "jobs" / "pipeline.py"),
            "--env", "local", "--run-date", day.isoformat(), "--run-id", runs.RUN_ID,
            "--conf", f"landing.root={reference['landing']}", "--conf", f"warehouse.root={warehouse}",
        ]
        env = {**cluster.env(), "ETL_PII_KEY": runs.PII_KEY, "PYTHONPATH": ""}
        done = subprocess.run(command, cwd=run_dir, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{done.stderr[-6000:]}\n{cluster.logs()}"
        executors = list((tmp_path / "worker").glob("app-*/*/stderr"))
        assert executors, f"no executor ran on the worker\n{cluster.logs()}"
    runs.assert_same_tables(reference["after"][day], DeltaWarehouse(spark, str(warehouse)))
