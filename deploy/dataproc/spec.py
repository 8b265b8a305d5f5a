"""Dataproc: a workflow template that runs the hourly DAG of seed 001 on an ephemeral
cluster (stages ordered with prerequisiteStepIds, the run date a template parameter), and
a Dataproc Serverless batch per job. Rendered in the API's JSON form (camelCase), which
google-cloud-dataproc's types parse strictly.
"""

from __future__ import annotations

from typing import Any

from deploy.render import RenderContext

__all__ = ["create_batch_request", "create_workflow_template_request", "render"]

RUN_DATE_ARG = 3  # position of the date in ctx.job_args(): --env ENV --run-date DATE


def _properties(ctx: RenderContext, job: str) -> dict[str, str]:
    return {**ctx.spark_conf(job, "dataproc"), **ctx.section("dataproc").spark_properties}


def _pyspark(ctx: RenderContext, job: str) -> dict[str, Any]:
    return {"mainPythonFileUri": ctx.script_uri(job), "pythonFileUris": ctx.py_files(job),
            "args": ctx.job_args()}


def create_workflow_template_request(ctx: RenderContext) -> dict[str, Any]:
    """CreateWorkflowTemplateRequest: managed cluster + the scheduled jobs as a DAG."""
    dp = ctx.section("dataproc")
    jobs, previous = [], []
    for stage, names in ctx.scheduled_jobs().items():
        for name in names:
            pyspark = {**_pyspark(ctx, name), "properties": _properties(ctx, name)}
            jobs.append({"stepId": name, "prerequisiteStepIds": list(previous),
                         "labels": {"stage": stage}, "pysparkJob": pyspark})
        previous = list(names)
    gce: dict[str, Any] = {}
    if dp.service_account:
        gce["serviceAccount"] = dp.service_account
    if dp.subnetwork_uri:
        gce["subnetworkUri"] = dp.subnetwork_uri
    cluster = {
        "gceClusterConfig": gce,
        "masterConfig": {"numInstances": 1, "machineTypeUri": dp.master_machine_type},
        "workerConfig": {"numInstances": dp.num_workers, "machineTypeUri": dp.worker_machine_type},
        "softwareConfig": {"imageVersion": dp.image_version, "properties": {
            "dataproc:pip.packages": ",".join(ctx.python_requirements)}},
    }
    template = {
        "id": dp.template_id,
        "labels": {"app": "retail-etl", **dp.labels},
        "placement": {"managedCluster": {"clusterName": dp.cluster_name, "config": cluster}},
        "jobs": jobs,
        "parameters": [{
            "name": "RUN_DATE",
            "description": "business day, YYYY-MM-DD",
            "fields": [f"jobs['{job['stepId']}'].pysparkJob.args[{RUN_DATE_ARG}]" for job in jobs],
            "validation": {"regex": {"regexes": [r"\d{4}-\d{2}-\d{2}"]}},
        }],
    }
    return {"parent": f"projects/{dp.project_id}/regions/{dp.region}", "template": template}


def create_batch_request(ctx: RenderContext, job: str) -> dict[str, Any]:
    """CreateBatchRequest for Dataproc Serverless (batch id from job and run date)."""
    dp = ctx.section("dataproc")
    runtime: dict[str, Any] = {"version": dp.runtime_version, "properties": _properties(ctx, job)}
    if dp.container_image:
        runtime["containerImage"] = dp.container_image
    execution: dict[str, Any] = {}
    if dp.service_account:
        execution["serviceAccount"] = dp.service_account
    if dp.subnetwork_uri:
        execution["subnetworkUri"] = dp.subnetwork_uri
    batch = {
        "pysparkBatch": {"mainPythonFileUri": ctx.script_uri(job), "args": ctx.job_args(),
                         "pythonFileUris": ctx.py_files(job)},
        "runtimeConfig": runtime,
        "environmentConfig": {"executionConfig": execution},
        "labels": {"app": "retail-etl", "job": job.replace("_", "-"), **dp.labels},
    }
    return {"parent": f"projects/{dp.project_id}/locations/{dp.region}", "batch": batch,
            "batchId": f"{job.replace('_', '-')}-{ctx.run_date}"}


def render(ctx: RenderContext) -> dict[str, Any]:
    """dataproc/workflow_template.json and dataproc/batches/<job>.json."""
    files: dict[str, Any] = {f"dataproc/batches/{job}.json": create_batch_request(ctx, job)
                             for job in sorted(ctx.jobs)}
    if ctx.deploy.schedule is not None:
        files["dataproc/workflow_template.json"] = create_workflow_template_request(ctx)
    return files
