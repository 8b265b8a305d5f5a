"""Create or update what the rendered specs describe, in the account the credentials reach.

AWS (boto3): upload dist/ and the connector jars Glue needs to ``deploy.artifacts_uri``,
create-or-update the Glue jobs, the Step Functions state machine, the EventBridge rule and
its target, and turn on EventBridge notifications of the landing bucket. GCP
(google-cloud-dataproc): create-or-update the workflow template. Per-run specs (EMR steps,
EMR Serverless runs, Dataproc batches) are submitted per business day, not applied.

Nothing happens without credentials, and nothing happens while a rendered value still
reads ``CHANGE-ME``: both stop with a message saying what to set.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.glue import spec as glue
from deploy.render import DeployError, RenderContext
from deploy.stepfunctions import spec as stepfunctions

__all__ = ["CredentialsMissing", "apply_aws", "apply_dataproc", "fetch_jar", "placeholders"]

PLACEHOLDER = "CHANGE-ME"


class CredentialsMissing(DeployError):
    """No cloud credentials: nothing was changed."""


def placeholders(files: dict[str, Any]) -> list[str]:
    """``file: json.path`` of every rendered value that still holds ``CHANGE-ME``."""
    found: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{where}.{key}")
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, f"{where}[{index}]")
        elif isinstance(value, str) and PLACEHOLDER in value:
            found.append(where)

    for name, content in files.items():
        if not isinstance(content, str):
            walk(content, name)
    return found


def _refuse_placeholders(files: dict[str, Any], env: str) -> None:
    found = placeholders(files)
    if found:
        shown = "\n  ".join(found[:12]) + ("\n  ..." if len(found) > 12 else "")
        raise DeployError(f"conf/{env}.yaml still has {PLACEHOLDER} values; set them first:\n  "
                          f"{shown}")


def aws_session(region: str) -> Any:
    """A boto3 session that has credentials, or CredentialsMissing."""
    import boto3

    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise CredentialsMissing(
            "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an IAM role is attached; nothing was changed"
        )
    return session


def fetch_jar(coordinate: str, repository: str, cache: Path) -> Path:
    """The jar of ``group:artifact:version``: from ``cache``, else downloaded from the
    Maven repository (Maven Central by default) into it."""
    group, artifact, version = coordinate.split(":")
    target = cache / f"{artifact}-{version}.jar"
    if not target.exists():
        path = f"{group.replace('.', '/')}/{artifact}/{version}/{target.name}"
        url = f"{repository.rstrip('/')}/{path}"
        cache.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                data = response.read()
        except OSError as exc:
            raise DeployError(f"could not download {coordinate} from {url}: {exc}") from None
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
    return target


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise DeployError(f"deploy.artifacts_uri {uri!r} must be s3:// to apply on AWS")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def upload_artifacts(ctx: RenderContext, s3: Any, dist: Path, jar_cache: Path,
                     report: Callable[[str], None]) -> None:
    """dist/ (zip, wheel, jobs, manifest) and the Glue connector jars to artifacts_uri."""
    if not (dist / "etl_lib.zip").is_file():
        raise DeployError(f"{dist}/etl_lib.zip not found: run `make package` first")
    bucket, prefix = _split_s3(ctx.artifacts)
    uploads = {path.relative_to(dist).as_posix(): path
               for path in sorted(dist.rglob("*")) if path.is_file()}
    if ctx.deploy.glue:
        for coordinate in sorted({c for job in ctx.jobs for c in glue.jar_coordinates(ctx, job)}):
            uploads[glue.jar_key(coordinate)] = fetch_jar(
                coordinate, ctx.deploy.maven_repository, jar_cache)
    for key, path in uploads.items():
        s3.upload_file(str(path), bucket, f"{prefix}/{key}" if prefix else key)
    report(f"uploaded {len(uploads)} files to {ctx.artifacts}/")


def _apply_glue_jobs(ctx: RenderContext, client: Any, report: Callable[[str], None]) -> None:
    for job in sorted(ctx.jobs):
        request = glue.create_job_request(ctx, job)
        name = request["Name"]
        try:
            client.get_job(JobName=name)
        except client.exceptions.EntityNotFoundException:
            client.create_job(**request)
            report(f"created Glue job {name}")
            continue
        update = {k: v for k, v in request.items() if k not in ("Name", "Tags")}
        client.update_job(JobName=name, JobUpdate=update)
        report(f"updated Glue job {name}")


def _apply_state_machine(ctx: RenderContext, session: Any, report: Callable[[str], None]) -> None:
    sfn = session.client("stepfunctions")
    request = stepfunctions.create_state_machine_request(ctx)
    arn = stepfunctions.state_machine_arn(ctx)
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        arn = sfn.create_state_machine(**request)["stateMachineArn"]
        report(f"created state machine {arn}")
    else:
        sfn.update_state_machine(stateMachineArn=arn, definition=request["definition"],
                                 roleArn=request["roleArn"])
        report(f"updated state machine {arn}")
    events = session.client("events")
    events.put_rule(**stepfunctions.put_rule_request(ctx))
    targets = stepfunctions.put_targets_request(ctx)
    targets["Targets"][0]["Arn"] = arn
    events.put_targets(**targets)
    report(f"rule {targets['Rule']} -> {arn}")
    bucket, _, _ = stepfunctions.trigger(ctx)
    s3 = session.client("s3")
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    if "EventBridgeConfiguration" not in current:
        current["EventBridgeConfiguration"] = {}
        s3.put_bucket_notification_configuration(Bucket=bucket,
                                                 NotificationConfiguration=current)
        report(f"turned on EventBridge notifications of s3://{bucket} (others kept)")


def apply_aws(ctx: RenderContext, files: dict[str, Any], dist: Path, jar_cache: Path,
              report: Callable[[str], None] = print) -> None:
    """Upload artifacts, then create or update the Glue jobs and the reviews pipeline."""
    _refuse_placeholders(files, ctx.env)
    session = aws_session(ctx.section("aws").region)
    upload_artifacts(ctx, session.client("s3"), dist, jar_cache, report)
    if ctx.deploy.glue:
        _apply_glue_jobs(ctx, session.client("glue"), report)
    if ctx.deploy.stepfunctions:
        _apply_state_machine(ctx, session, report)


def apply_dataproc(ctx: RenderContext, files: dict[str, Any],
                   report: Callable[[str], None] = print) -> None:
    """Create or update the workflow template (upload dist/ with `gcloud storage cp`)."""
    _refuse_placeholders(files, ctx.env)
    import google.auth
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import dataproc_v1

    try:
        credentials, _ = google.auth.default()
    except DefaultCredentialsError:
        raise CredentialsMissing(
            "no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS or run "
            "`gcloud auth application-default login`; nothing was changed"
        ) from None
    dp = ctx.section("dataproc")
    client = dataproc_v1.WorkflowTemplateServiceClient(
        credentials=credentials,
        client_options={"api_endpoint": f"{dp.region}-dataproc.googleapis.com:443"})
    request = dataproc_v1.CreateWorkflowTemplateRequest.from_json(
        json.dumps(files["dataproc/workflow_template.json"]))
    name = f"{request.parent}/workflowTemplates/{request.template.id}"
    try:
        current = client.get_workflow_template(name=name)
    except exceptions.NotFound:
        client.create_workflow_template(request=request)
        report(f"created workflow template {name}")
    else:
        request.template.name = name
        request.template.version = current.version
        client.update_workflow_template(template=request.template)
        report(f"updated workflow template {name}")
    report(f"upload the artifacts: gcloud storage cp -r dist/* {ctx.artifacts}/")
