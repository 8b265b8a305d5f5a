"""Seed 004's event-driven reviews pipeline on AWS:

S3 "Object Created" under the dataset's landing prefix -> EventBridge rule -> Step
Functions: resolve the business day from the object key -> the configured Glue jobs in
order (reviews_clean, reviews_flatten) -> ``ALTER EXTERNAL TABLE ... REFRESH`` through the
Snowflake SQL API. Each task retries transient errors with exponential backoff; any
failure publishes the execution state to SNS and ends in a Fail state.

The bucket, the key prefix and where the date sits in the key all come from conf
``landing.root`` and the dataset's file pattern in etl_lib.landing.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.glue.spec import glue_job_name
from deploy.render import DeployError, RenderContext
from etl_lib.landing import DATASETS

__all__ = ["definition", "create_state_machine_request", "put_rule_request",
           "put_targets_request", "render", "state_machine_arn", "trigger"]

NOTIFY, FAILED = "NotifyFailure", "Failed"
GLUE_TRANSIENT = ["Glue.ConcurrentRunsExceededException", "Glue.InternalServiceException",
                  "Glue.ThrottlingException", "Glue.OperationTimeoutException"]
HTTP_TRANSIENT = [f"States.Http.StatusCode.{code}" for code in (429, 500, 502, 503, 504)]


def trigger(ctx: RenderContext) -> tuple[str, str, dict[str, int]]:
    """(bucket, key prefix that starts a run, index of yyyy/mm/dd in the '/'-split key)."""
    sf = ctx.section("stepfunctions")
    if sf.dataset not in DATASETS:
        raise DeployError(f"deploy.stepfunctions.dataset {sf.dataset!r} is not a landing "
                          f"dataset ({', '.join(DATASETS)})")
    bucket, prefix = ctx.landing_location()
    parts = [*(prefix.split("/") if prefix else []), *DATASETS[sf.dataset].patterns[0].split("/")]
    positions = {name: parts.index("{" + name + "}") for name in ("yyyy", "mm", "dd")
                 if "{" + name + "}" in parts}
    if len(positions) < 3:
        raise DeployError(f"dataset {sf.dataset} has no yyyy/mm/dd folders to take the day from")
    key_prefix = "/".join(parts[: min(positions.values())]) + "/"
    return bucket, key_prefix, positions


def _retry(ctx: RenderContext, errors: list[str]) -> dict[str, Any]:
    policy = ctx.section("stepfunctions").retry
    retry: dict[str, Any] = {"ErrorEquals": errors, "IntervalSeconds": policy.interval_seconds,
                             "MaxAttempts": policy.max_attempts, "BackoffRate": policy.backoff_rate,
                             "JitterStrategy": "FULL"}
    if policy.max_delay_seconds:
        retry["MaxDelaySeconds"] = policy.max_delay_seconds
    return retry


_CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": NOTIFY}]


def _glue_task(ctx: RenderContext, job: str, following: str | None) -> dict[str, Any]:
    ctx.job(job)  # a Glue job is defined for every entry point: the name must be one
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::glue:startJobRun.sync",
        "Parameters": {"JobName": glue_job_name(ctx, job),
                       "Arguments": {"--run-date.$": "$.run.run_date"}},
        "ResultSelector": {"JobRunId.$": "$.Id", "JobRunState.$": "$.JobRunState"},
        "ResultPath": f"$.results.{job}",
        "Retry": [_retry(ctx, GLUE_TRANSIENT)],
        "Catch": _CATCH,
    }
    return {**state, "Next": following} if following else {**state, "End": True}


def _refresh_task(ctx: RenderContext) -> dict[str, Any]:
    refresh = ctx.section("stepfunctions").refresh
    body: dict[str, Any] = {"statement": f"ALTER EXTERNAL TABLE {refresh.external_table} REFRESH",
                            "timeout": 300, "warehouse": refresh.warehouse}
    if refresh.role:
        body["role"] = refresh.role
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {
            "ApiEndpoint": f"{refresh.account_url}/api/v2/statements",
            "Method": "POST",
            "Authentication": {"ConnectionArn": refresh.connection_arn},
            "Headers": {"Content-Type": "application/json", "Accept": "application/json",
                        "X-Snowflake-Authorization-Token-Type": "PROGRAMMATIC_ACCESS_TOKEN"},
            "RequestBody": body,
        },
        "ResultSelector": {"StatusCode.$": "$.StatusCode"},
        "ResultPath": "$.results.refresh",
        "Retry": [_retry(ctx, HTTP_TRANSIENT)],
        "Catch": _CATCH,
        "End": True,
    }


def definition(ctx: RenderContext) -> dict[str, Any]:
    """The state machine in Amazon States Language (JSONPath)."""
    sf = ctx.section("stepfunctions")
    _, _, at = trigger(ctx)
    parts = "States.StringSplit($.detail.object.key, '/')"
    day = ", ".join(f"States.ArrayGetItem({parts}, {at[name]})" for name in ("yyyy", "mm", "dd"))
    names = [*sf.steps, *(["RefreshExternalTable"] if sf.refresh else [])]
    states: dict[str, Any] = {
        "ResolveRunDate": {
            "Type": "Pass",
            "Comment": "the business day is in the object key: .../yyyy/mm/dd/<file>",
            "Parameters": {"run_date.$": f"States.Format('{{}}-{{}}-{{}}', {day})",
                           "bucket.$": "$.detail.bucket.name", "key.$": "$.detail.object.key"},
            "ResultPath": "$.run",
            "Next": names[0],
        },
    }
    for index, job in enumerate(sf.steps):
        following = names[index + 1] if index + 1 < len(names) else None
        states[job] = _glue_task(ctx, job, following)
    if sf.refresh:
        states["RefreshExternalTable"] = _refresh_task(ctx)
    states[NOTIFY] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": sf.sns_topic_arn,
                       "Subject": f"{sf.state_machine_name} failed",
                       "Message.$": "States.JsonToString($)"},
        "Retry": [_retry(ctx, ["SNS.ThrottledException", "SNS.InternalErrorException"])],
        "Next": FAILED,
    }
    states[FAILED] = {"Type": "Fail", "Error": "ReviewsPipelineFailed",
                      "Cause": "a step failed; the SNS message holds the execution state"}
    return {"Comment": f"{sf.dataset} landed -> {' -> '.join(names)} (seed 004)",
            "StartAt": "ResolveRunDate", "States": states}


def state_machine_arn(ctx: RenderContext) -> str:
    aws = ctx.section("aws")
    name = ctx.section("stepfunctions").state_machine_name
    return f"arn:aws:states:{aws.region}:{aws.account_id}:stateMachine:{name}"


def create_state_machine_request(ctx: RenderContext) -> dict[str, Any]:
    sf = ctx.section("stepfunctions")
    return {"name": sf.state_machine_name, "definition": json.dumps(definition(ctx), indent=2),
            "roleArn": sf.role_arn, "type": "STANDARD",
            "tags": [{"key": "app", "value": "retail-etl"}]}


def put_rule_request(ctx: RenderContext) -> dict[str, Any]:
    sf = ctx.section("stepfunctions")
    bucket, prefix, _ = trigger(ctx)
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"],
               "detail": {"bucket": {"name": [bucket]},
                          "object": {"key": [{"prefix": prefix}]}}}
    return {"Name": sf.rule_name, "EventPattern": json.dumps(pattern), "State": "ENABLED",
            "Description": f"new {sf.dataset} files in s3://{bucket}/{prefix} start "
                           f"{sf.state_machine_name}"}


def put_targets_request(ctx: RenderContext) -> dict[str, Any]:
    sf = ctx.section("stepfunctions")
    return {"Rule": sf.rule_name, "Targets": [
        {"Id": "start-pipeline", "Arn": state_machine_arn(ctx), "RoleArn": sf.events_role_arn}]}


def render(ctx: RenderContext) -> dict[str, Any]:
    return {
        "stepfunctions/state_machine.asl.json": definition(ctx),
        "stepfunctions/create_state_machine.json": create_state_machine_request(ctx),
        "stepfunctions/put_rule.json": put_rule_request(ctx),
        "stepfunctions/put_targets.json": put_targets_request(ctx),
    }
