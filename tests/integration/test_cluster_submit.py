"""`make package` artifacts submitted with spark-submit to a standalone master + worker on
loopback: the pipeline's tables equal those of the same day run in local mode.

The submitted pipeline runs the dimension steps and sales_enrich (the headline job): every
step runs in the shared local run and on s3a already, and a cluster run of all ten would
cost the suite minutes without exercising anything more of the packaging or the submit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from etl_lib.io.delta import DeltaWarehouse
from tests.integration import pipeline_runs as runs
from tests.servers import SPARK_HOME, SparkStandalone

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

STEPS = ["dim_date", "stores_dim", "products_dim", "customers_dim", "sales_enrich"]


def _package(out) -> dict:
    done = subprocess.run([sys.executable, str(runs.REPO / "scripts" / "package.py"), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "manifest.json").read_text())


def test_packaged_pipeline_on_standalone_cluster_equals_local_run(spark, three_days, tmp_path):
    dist = tmp_path / "dist"
    manifest = _package(dist)
    py_files = [dist / manifest["py_files"], *(dist / "jobs" / f"{step}.py" for step in STEPS)]
    day = runs.DAYS[0]
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
            "--env", "local", "--run-date", day.isoformat(), "--run-id", runs.run_id_of(day),
            "--conf", f"landing.root={three_days.landing}", "--conf", f"warehouse.root={warehouse}",
            "--conf", f"jobs.pipeline.steps=[{', '.join(STEPS)}]",
        ]
        env = {**cluster.env(), "ETL_PII_KEY": os.environ["ETL_PII_KEY"], "PYTHONPATH": ""}
        done = subprocess.run(command, cwd=run_dir, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{done.stderr[-6000:]}\n{cluster.logs()}"
        executors = list((tmp_path / "worker").glob("app-*/*/stderr"))
        assert executors, f"no executor ran on the worker\n{cluster.logs()}"
    submitted = DeltaWarehouse(spark, str(warehouse))
    log = submitted.read("METADATA.RUN_LOG").where("job != 'pipeline'").collect()
    assert sorted(r.job for r in log) == sorted(STEPS)
    # METADATA tables hold the shared run's other steps too: the data tables are compared.
    written = {t for r in log for t in r.tables if not t.startswith("METADATA.")}
    assert {"CURATED.FACT_SALES", "ANALYTICS.DAILY_SALES_SUMMARY"} <= written
    runs.assert_same_tables(DeltaWarehouse(spark, str(three_days.day_one)), submitted, written,
                            zones=False)
