"""The hourly retail ETL DAG (seed 001): dimensions in parallel -> facts -> marts ->
quality checks, each task a Glue job run or an EMR Serverless job run of one job.

This file is generic: it builds the DAG from the JSON of the same name next to it, which
``scripts/deploy.py render`` writes from conf (conf/base.yaml ``deploy.schedule`` and the
overlay's ``deploy.airflow``). Needs Airflow 3 and apache-airflow-providers-amazon.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.sdk import DAG

SPEC = json.loads(Path(__file__).with_suffix(".json").read_text(encoding="utf-8"))


def _operator(task: dict, runner: str):
    if runner == "glue":
        from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

        return GlueJobOperator(task_id=task["task_id"], **task["glue"])
    if runner == "emr_serverless":
        from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

        return EmrServerlessStartJobOperator(task_id=task["task_id"], **task["emr_serverless"])
    raise ValueError(f"unknown runner {runner!r} in {Path(__file__).with_suffix('.json').name}")


_defaults = SPEC["default_args"]
with DAG(
    dag_id=SPEC["dag_id"],
    schedule=SPEC["schedule"],
    start_date=datetime.fromisoformat(SPEC["start_date"]).replace(tzinfo=timezone.utc),
    catchup=SPEC["catchup"],
    max_active_runs=SPEC["max_active_runs"],
    tags=SPEC["tags"],
    default_args={"owner": _defaults["owner"], "retries": _defaults["retries"],
                  "retry_delay": timedelta(minutes=_defaults["retry_delay_minutes"])},
) as dag:
    previous: list = []
    for stage in SPEC["stages"]:
        current = [_operator(task, SPEC["runner"]) for task in stage["tasks"]]
        for upstream in previous:
            upstream >> current
        previous = current
