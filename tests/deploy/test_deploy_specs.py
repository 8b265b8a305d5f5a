"""Every rendered spec passes its platform's client-side validation, offline: botocore's
parameter validation, statelint for the state machine, google-cloud-dataproc's types."""

from __future__ import annotations

import json
from datetime import date

import pytest
from botocore.exceptions import ParamValidationError
from google.cloud import dataproc_v1
from statelint.linter import Linter

from deploy.render import RUN_DATE as PLACEHOLDER
from deploy.render import DeployError, RenderContext, entry_points
from deploy.stepfunctions.spec import NOTIFY, trigger
from etl_lib.landing import DATASETS
from tests.deploy.helpers import RUN_DATE, rendered, validate_call

pytestmark = pytest.mark.deploy


def _named(files: dict, prefix: str) -> dict:
    return {name: body for name, body in files.items() if name.startswith(prefix)}


def test_glue_jobs_one_per_entry_point_and_valid():
    ctx, files = rendered("glue")
    jobs = _named(files, "glue/jobs/")
    assert {name.split("/")[-1][:-5] for name in jobs} == set(entry_points())
    for request in jobs.values():
        validate_call("glue", "CreateJob", request)
        update = {k: v for k, v in request.items() if k not in ("Name", "Tags")}
        validate_call("glue", "UpdateJob", {"JobName": request["Name"], "JobUpdate": update})
        args = request["DefaultArguments"]
        assert request["GlueVersion"] == "5.1" and args["--datalake-formats"] == "delta"
        assert args["--extra-py-files"].startswith(f"{ctx.artifacts}/etl_lib.zip")
        assert args["--additional-python-modules"] == ",".join(ctx.python_requirements)
    pipeline_files = jobs["glue/jobs/pipeline.json"]["DefaultArguments"]["--extra-py-files"]
    assert f"{ctx.artifacts}/jobs/sales_enrich.py" in pipeline_files.split(",")
    extract = jobs["glue/jobs/customers_oltp_extract.json"]["DefaultArguments"]
    assert extract["--extra-jars"].endswith("/jars/postgresql-42.7.4.jar")
    assert "--extra-jars" not in jobs["glue/jobs/sales_enrich.json"]["DefaultArguments"]


def test_glue_adds_snowflake_jars_when_the_warehouse_is_snowflake():
    _, files = rendered("glue", "warehouse.kind=snowflake", "snowflake.account=acme-prod",
                        "snowflake.user=ETL", "snowflake.warehouse=WH", "snowflake.database=DB")
    args = files["glue/jobs/sales_enrich.json"]["DefaultArguments"]
    assert "--datalake-formats" not in args
    assert [j.rsplit("/", 1)[-1] for j in args["--extra-jars"].split(",")] == [
        "spark-snowflake_2.12-3.0.0.jar", "snowflake-jdbc-3.24.0.jar"]


def test_emr_steps_and_serverless_runs_are_valid_spark_submits():
    ctx, files = rendered("emr")
    for name, request in _named(files, "emr/steps/").items():
        validate_call("emr", "AddJobFlowSteps", request)
        for step in request["Steps"]:
            args = step["HadoopJarStep"]["Args"]
            assert args[:4] == ["spark-submit", "--deploy-mode", "cluster", "--py-files"]
            assert args[-4:] == ["--env", "emr", "--run-date", RUN_DATE]
            assert "spark.jars=/usr/share/aws/delta/lib/delta-spark.jar," \
                   "/usr/share/aws/delta/lib/delta-storage.jar" in args
    schedule = files["emr/steps/_schedule.json"]["Steps"]
    stages = ctx.config.deploy.schedule.stages
    assert [s["Name"].split()[0] for s in schedule] == [j for js in stages.values() for j in js]
    for request in _named(files, "emr/serverless/").values():
        validate_call("emr-serverless", "StartJobRun", request)
        assert "--py-files s3://" in request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    with pytest.raises(ParamValidationError):
        validate_call("emr", "AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": [{"Name": "x"}]})


def test_state_machine_is_valid_asl_and_every_failure_notifies():
    ctx, files = rendered("glue")
    definition = files["stepfunctions/state_machine.asl.json"]
    assert Linter.validate(definition) == []
    states = definition["States"]
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and n != NOTIFY}
    assert list(tasks) == ["reviews_clean", "reviews_flatten", "RefreshExternalTable"]
    for state in tasks.values():
        assert state["Catch"][0]["Next"] == NOTIFY
        assert state["Retry"][0]["BackoffRate"] == 2.0 and state["Retry"][0]["MaxAttempts"] == 4
    assert states[NOTIFY]["Resource"] == "arn:aws:states:::sns:publish"
    assert states[states[NOTIFY]["Next"]]["Type"] == "Fail"
    assert states["reviews_clean"]["Parameters"]["JobName"] == "retail-etl-reviews_clean"
    validate_call("stepfunctions", "CreateStateMachine",
                  files["stepfunctions/create_state_machine.json"])
    validate_call("events", "PutRule", files["stepfunctions/put_rule.json"])
    validate_call("events", "PutTargets", files["stepfunctions/put_targets.json"])


def test_statelint_catches_a_broken_definition():
    _, files = rendered("glue")
    broken = json.loads(json.dumps(files["stepfunctions/state_machine.asl.json"]))
    broken["States"]["reviews_clean"]["Next"] = "NoSuchState"
    assert any("NoSuchState" in problem for problem in Linter.validate(broken))


def test_trigger_and_run_date_come_from_landing_conf():
    ctx, files = rendered("glue", "landing.root=s3://acme-raw/zones/landing")
    bucket, prefix, at = trigger(ctx)
    assert (bucket, prefix) == ("acme-raw", "zones/landing/reviews/")
    pattern = json.loads(files["stepfunctions/put_rule.json"]["EventPattern"])
    assert pattern["detail"] == {"bucket": {"name": ["acme-raw"]},
                                 "object": {"key": [{"prefix": "zones/landing/reviews/"}]}}
    day = date(2024, 2, 29)
    sample = DATASETS["reviews"].paths_for("s3://acme-raw/zones/landing", day)[0]
    parts = sample.split("://", 1)[1].split("/", 1)[1].split("/")
    assert "-".join(parts[at[p]] for p in ("yyyy", "mm", "dd")) == day.isoformat()
    with pytest.raises(DeployError, match="not on S3"):
        trigger(RenderContext.load("glue", ("landing.root=/local/landing",)))


def test_dataproc_specs_parse_as_dataproc_types():
    ctx, files = rendered("dataproc")
    request = dataproc_v1.CreateWorkflowTemplateRequest.from_json(
        json.dumps(files["dataproc/workflow_template.json"]))
    jobs = {job.step_id: job for job in request.template.jobs}
    stages = list(ctx.config.deploy.schedule.stages.values())
    for earlier, later in zip(stages, stages[1:]):
        for step in later:
            assert sorted(jobs[step].prerequisite_step_ids) == sorted(earlier)
    assert all(not jobs[step].prerequisite_step_ids for step in stages[0])
    fields = request.template.parameters[0].fields
    assert len(fields) == len(jobs)
    assert all(job.pyspark_job.args[3] == RUN_DATE for job in jobs.values())
    assert "spark.jars.packages" in jobs["sales_enrich"].pyspark_job.properties
    for body in _named(files, "dataproc/batches/").values():
        batch = dataproc_v1.CreateBatchRequest.from_json(json.dumps(body))
        assert batch.batch.pyspark_batch.python_file_uris[0].endswith("/etl_lib.zip")
    with pytest.raises(Exception, match="no field named"):
        dataproc_v1.CreateBatchRequest.from_json(json.dumps({"batch": {"pysparkJob": {}}}))


def test_render_refuses_unknown_jobs_and_keeps_the_placeholder_without_run_date():
    with pytest.raises(DeployError, match="no_such_job"):
        rendered("glue", "deploy.stepfunctions.steps=[reviews_clean, no_such_job]")
    ctx = RenderContext.load("emr")
    assert ctx.job_args() == ["--env", "emr", "--run-date", PLACEHOLDER]
