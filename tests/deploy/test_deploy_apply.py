"""`deploy.py apply`: refuses placeholders and missing credentials; against moto's server
on loopback it uploads the artifacts and creates the Glue jobs and the reviews pipeline."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from deploy.apply import CredentialsMissing, _apply_state_machine, apply_aws, apply_dataproc
from deploy.apply import fetch_jar, placeholders
from deploy.render import REPO, DeployError, RenderContext, entry_points
from deploy.specs import render_all
from tests.servers import LOOPBACK, moto_server

pytestmark = pytest.mark.deploy

ACCOUNT = "123456789012"
NO_CLOUD = {"AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True"}


def _conf_without_placeholders(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    for name in ("glue.yaml", "emr.yaml", "dataproc.yaml"):
        path = conf / name
        text = path.read_text().replace("CHANGE-ME-account-id", ACCOUNT)
        path.write_text(text.replace("CHANGE-ME", "it"))
    return conf


def _without_cloud_credentials(monkeypatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "GOOGLE_APPLICATION_CREDENTIALS", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "none"))
    for name, value in NO_CLOUD.items():
        monkeypatch.setenv(name, value)


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "deploy.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_apply_refuses_placeholders_then_missing_credentials(tmp_path, monkeypatch):
    _without_cloud_credentials(monkeypatch, tmp_path)
    import os

    placeholder = _cli("apply", "--env", "glue", env=dict(os.environ))
    assert placeholder.returncode == 2
    assert "CHANGE-ME" in placeholder.stderr and "glue/jobs/" in placeholder.stderr
    env = {**os.environ, "ETL_CONF_DIR": str(_conf_without_placeholders(tmp_path))}
    no_credentials = _cli("apply", "--env", "glue", env=env)
    assert no_credentials.returncode == 2, no_credentials.stderr
    assert "no AWS credentials" in no_credentials.stderr
    assert "AWS_ACCESS_KEY_ID" in no_credentials.stderr
    ctx = RenderContext.load("dataproc", conf_dir=Path(env["ETL_CONF_DIR"]))
    with pytest.raises(CredentialsMissing, match="GOOGLE_APPLICATION_CREDENTIALS"):
        apply_dataproc(ctx, render_all(ctx), report=lambda _: None)
    rendered = _cli("render", "--env", "glue", "--out", str(tmp_path / "out"), env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "out" / "stepfunctions" / "state_machine.asl.json").is_file()


@pytest.fixture
def maven_repo(tmp_path):
    """A Maven repository layout on loopback holding a stand-in PostgreSQL driver jar."""
    root = tmp_path / "maven"
    jar = root / "org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"PK\x03\x04 stand-in jar")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "jobs").mkdir(parents=True)
    (dist / "etl_lib.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    for job in entry_points().values():
        shutil.copy2(job.path, dist / "jobs" / job.path.name)
    (dist / "manifest.json").write_text("{}")
    return dist


def test_apply_creates_glue_jobs_and_reviews_pipeline_on_moto(tmp_path, monkeypatch, maven_repo):
    conf = _conf_without_placeholders(tmp_path)
    ctx = RenderContext.load("glue", (f"deploy.maven_repository={maven_repo}",), conf_dir=conf)
    files = render_all(ctx)
    assert placeholders(files) == []
    with moto_server(tmp_path) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "it")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "it")
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        session = boto3.Session(region_name="us-east-1")
        s3 = session.client("s3")
        for bucket in ("it-artifacts-bucket", "it-landing-bucket"):
            s3.create_bucket(Bucket=bucket)
        queue = session.client("sqs").create_queue(QueueName="snowpipe")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:snowpipe"
        s3.put_bucket_notification_configuration(
            Bucket="it-landing-bucket", NotificationConfiguration={"QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]})
        messages: list[str] = []
        apply_aws(ctx, files, _dist(tmp_path), tmp_path / "jar-cache", report=messages.append)

        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="it-artifacts-bucket")["Contents"]}
        assert {"retail-etl/etl_lib.zip", "retail-etl/jobs/pipeline.py",
                "retail-etl/jars/postgresql-42.7.4.jar"} <= keys
        glue = session.client("glue")
        for job in entry_points():
            created = glue.get_job(JobName=f"retail-etl-{job}")["Job"]
            assert created["DefaultArguments"]["--env"] == "glue"
        sfn = session.client("stepfunctions")
        machines = sfn.list_state_machines()["stateMachines"]
        assert [m["name"] for m in machines] == ["retail-reviews-pipeline"]
        described = sfn.describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])
        assert json.loads(described["definition"]) == files["stepfunctions/state_machine.asl.json"]
        targets = session.client("events").list_targets_by_rule(Rule="retail-reviews-landed")
        assert targets["Targets"][0]["Arn"] == machines[0]["stateMachineArn"]
        assert ("turned on EventBridge notifications of s3://it-landing-bucket (others kept)"
                in messages)
        notification = s3.get_bucket_notification_configuration(Bucket="it-landing-bucket")
        assert [q["QueueArn"] for q in notification["QueueConfigurations"]] == [queue_arn]

        _apply_state_machine(ctx, session, messages.append)  # the second apply updates
        assert any(m.startswith("updated state machine") for m in messages)
        assert sum(m.startswith("created Glue job") for m in messages) == len(entry_points())
    cached = fetch_jar("org.postgresql:postgresql:42.7.4", "http://127.0.0.1:9",
                       tmp_path / "jar-cache")  # nothing listens there: served from the cache
    assert cached.read_bytes().startswith(b"PK")
    with pytest.raises(DeployError, match="could not download"):
        fetch_jar("org.example:nothing:1.0", maven_repo, tmp_path / "jar-cache")
