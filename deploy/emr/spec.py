"""EMR 7.x: spark-submit steps for a running cluster (AddJobFlowSteps) and EMR Serverless
job runs (StartJobRun), one per job; plus the hourly schedule as one ordered step list.

Everything Spark needs is passed at submit time (``--conf`` from
:func:`etl_lib.session.session_conf`, including the Delta jars of the EMR release from
conf/emr.yaml and any Maven packages), so nothing depends on the session builder running
before the JVM starts.
"""

from __future__ import annotations

from typing import Any

from deploy.render import RenderContext

__all__ = ["add_job_flow_steps", "render", "start_job_run", "submit_arguments"]


def _python_conf(python: str | None) -> dict[str, str]:
    if not python:
        return {}
    return {"spark.pyspark.python": python, "spark.pyspark.driver.python": python}


def submit_arguments(ctx: RenderContext, job: str, extra_conf: dict[str, str]) -> list[str]:
    """``--py-files ... --conf k=v ...`` for ``job`` (without the script and its arguments)."""
    args = ["--py-files", ",".join(ctx.py_files(job))]
    for key, value in {**ctx.spark_conf(job, "emr"), **extra_conf}.items():
        args += ["--conf", f"{key}={value}"]
    return args


def _step(ctx: RenderContext, job: str) -> dict[str, Any]:
    emr = ctx.section("emr")
    conf = {**_python_conf(emr.python), **emr.spark_conf}
    args = ["spark-submit", "--deploy-mode", emr.deploy_mode,
            *submit_arguments(ctx, job, conf), ctx.script_uri(job), *ctx.job_args()]
    return {
        "Name": f"{job} {ctx.run_date}",
        "ActionOnFailure": emr.action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args},
    }


def add_job_flow_steps(ctx: RenderContext, jobs: list[str]) -> dict[str, Any]:
    """AddJobFlowSteps parameters running ``jobs`` in order on deploy.emr.cluster_id."""
    emr = ctx.section("emr")
    request: dict[str, Any] = {"JobFlowId": emr.cluster_id,
                               "Steps": [_step(ctx, job) for job in jobs]}
    if emr.execution_role_arn:
        request["ExecutionRoleArn"] = emr.execution_role_arn
    return request


def start_job_run(ctx: RenderContext, job: str) -> dict[str, Any]:
    """EMR Serverless StartJobRun parameters (boto3 adds the clientToken)."""
    serverless = ctx.section("emr_serverless")
    conf = {**_python_conf(serverless.python), **serverless.spark_conf}
    request: dict[str, Any] = {
        "applicationId": serverless.application_id,
        "executionRoleArn": serverless.execution_role_arn,
        "name": f"{job}-{ctx.run_date}",
        "jobDriver": {"sparkSubmit": {
            "entryPoint": ctx.script_uri(job),
            "entryPointArguments": ctx.job_args(),
            "sparkSubmitParameters": " ".join(submit_arguments(ctx, job, conf)),
        }},
        "executionTimeoutMinutes": serverless.timeout_minutes,
        "tags": {"app": "retail-etl", "job": job},
    }
    if serverless.log_uri:
        request["configurationOverrides"] = {"monitoringConfiguration": {
            "s3MonitoringConfiguration": {"logUri": serverless.log_uri}}}
    return request


def render(ctx: RenderContext) -> dict[str, Any]:
    """emr/steps/<job>.json (+ _schedule.json) and emr/serverless/<job>.json, as configured."""
    files: dict[str, Any] = {}
    if ctx.deploy.emr is not None:
        for job in sorted(ctx.jobs):
            files[f"emr/steps/{job}.json"] = add_job_flow_steps(ctx, [job])
        if ctx.deploy.schedule is not None:
            ordered = [job for jobs in ctx.scheduled_jobs().values() for job in jobs]
            files["emr/steps/_schedule.json"] = add_job_flow_steps(ctx, ordered)
    if ctx.deploy.emr_serverless is not None:
        for job in sorted(ctx.jobs):
            files[f"emr/serverless/{job}.json"] = start_job_run(ctx, job)
    return files
