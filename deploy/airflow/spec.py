"""Seed 001's hourly DAG for Airflow: the scheduled stages in order (jobs of a stage in
parallel), each task a Glue job run or an EMR Serverless job run for ``{{ ds }}``.

Rendered as ``airflow/<dag_id>.json`` next to a copy of ``retail_hourly_dag.py`` named
``<dag_id>.py``, which builds the DAG from that JSON: drop both in the dags folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from deploy.emr.spec import start_job_run
from deploy.glue.spec import glue_job_name
from deploy.render import RenderContext

__all__ = ["DAG_TEMPLATE", "dag_spec", "render"]

DAG_TEMPLATE = Path(__file__).with_name("retail_hourly_dag.py")
#: Airflow's template for the run's logical date, YYYY-MM-DD.
LOGICAL_DATE = "{{ ds }}"


def _task(ctx: RenderContext, job: str, runner: str, conn: str) -> dict[str, Any]:
    if runner == "glue":
        return {"task_id": job, "glue": {
            "job_name": glue_job_name(ctx, job), "script_args": {"--run-date": LOGICAL_DATE},
            "region_name": ctx.section("aws").region, "aws_conn_id": conn,
            "wait_for_completion": True, "verbose": False}}
    templated = dataclasses.replace(ctx, run_date=LOGICAL_DATE)
    run = start_job_run(templated, job)
    return {"task_id": job, "emr_serverless": {
        "application_id": run["applicationId"], "execution_role_arn": run["executionRoleArn"],
        "job_driver": run["jobDriver"],
        "configuration_overrides": run.get("configurationOverrides", {}),
        "config": {"executionTimeoutMinutes": run["executionTimeoutMinutes"], "tags": run["tags"]},
        "name": run["name"], "aws_conn_id": conn, "wait_for_completion": True}}


def dag_spec(ctx: RenderContext) -> dict[str, Any]:
    """The DAG as data: schedule, defaults and the stages' tasks."""
    airflow = ctx.section("airflow")
    schedule = ctx.section("schedule")
    stages = [{"name": stage, "tasks": [_task(ctx, job, airflow.runner, airflow.aws_conn_id)
                                        for job in jobs]}
              for stage, jobs in ctx.scheduled_jobs().items()]
    return {
        "dag_id": airflow.dag_id,
        "schedule": schedule.cron,
        "start_date": airflow.start_date.isoformat(),
        "catchup": airflow.catchup,
        "max_active_runs": airflow.max_active_runs,
        "tags": airflow.tags,
        "default_args": {"owner": airflow.owner, "retries": airflow.retries,
                         "retry_delay_minutes": airflow.retry_delay_minutes},
        "runner": airflow.runner,
        "stages": stages,
    }


def render(ctx: RenderContext) -> dict[str, Any]:
    dag_id = ctx.section("airflow").dag_id
    return {f"airflow/{dag_id}.json": dag_spec(ctx),
            f"airflow/{dag_id}.py": DAG_TEMPLATE.read_text(encoding="utf-8")}
