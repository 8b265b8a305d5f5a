"""The rendered Airflow DAG imports with apache-airflow 3 and has seed 001's task graph.

Airflow configures logging and settings on import, so the DAG is loaded in a subprocess
(the same interpreter) with a throwaway AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from deploy.specs import write_files
from tests.deploy.helpers import rendered

pytestmark = pytest.mark.deploy

LOAD_DAGS = textwrap.dedent("""
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    result = {}
    for folder in sys.argv[1:]:
        bag = DagBag(dag_folder=folder)
        result[folder] = {
            "errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()},
            "dags": {dag_id: {
                "schedule": str(getattr(dag.timetable, "_expression", dag.timetable)),
                "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids),
                                      "operator": type(t).__name__} for t in dag.tasks},
            } for dag_id, dag in bag.dags.items()},
        }
    print("RESULT" + json.dumps(result))
""")


def _expected_upstream(stages: dict[str, list[str]]) -> dict[str, list[str]]:
    expected, previous = {}, []
    for jobs in stages.values():
        for job in jobs:
            expected[job] = sorted(previous)
        previous = jobs
    return expected


def test_dag_imports_and_runs_stages_in_order(tmp_path):
    folders, graphs = [], {}
    for env, operator in (("glue", "GlueJobOperator"), ("emr", "EmrServerlessStartJobOperator")):
        ctx, files = rendered(env, run_date=None)
        folder = tmp_path / env
        write_files({k: v for k, v in files.items() if k.startswith("airflow/")}, folder)
        folders.append(str(folder / "airflow"))
        graphs[str(folder / "airflow")] = (ctx, operator)
    env_vars = {"AIRFLOW_HOME": str(tmp_path / "airflow-home"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
                "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", LOAD_DAGS, *folders], capture_output=True,
                          text=True, env=env_vars, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    for folder, (ctx, operator) in graphs.items():
        assert result[folder]["errors"] == {}
        dag = result[folder]["dags"][ctx.config.deploy.airflow.dag_id]
        stages = ctx.config.deploy.schedule.stages
        assert {t: v["upstream"] for t, v in dag["tasks"].items()} == _expected_upstream(stages)
        assert {v["operator"] for v in dag["tasks"].values()} == {operator}
        assert "0 * * * *" in dag["schedule"]
