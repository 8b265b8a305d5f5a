"""The whole pipeline with landing and warehouse on s3a://, against moto's S3 server on
loopback: the tables equal those of the same days run on the local filesystem."""

from __future__ import annotations

import boto3
import pytest

from etl_lib.connections import S3Settings
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.s3 import S3CredentialsMissing, apply_s3_settings, s3a_hadoop_settings
from tests.integration import pipeline_runs as runs
from tests.servers import moto_server

pytestmark = [pytest.mark.s3, pytest.mark.integration]

BUCKET = "retail-it-lake"
KEYS = {"AWS_ACCESS_KEY_ID": "it-access-key", "AWS_SECRET_ACCESS_KEY": "it-secret-key"}


def _upload_tree(client, root, bucket: str, prefix: str) -> int:
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
        count += 1
    return count


def test_pipeline_on_s3a_equals_local_run(spark, three_days, tmp_path, monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    day = runs.DAYS[0]
    with moto_server(tmp_path) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        assert _upload_tree(s3, three_days.landing, BUCKET, "landing") > 10
        config = runs.local_config(
            f"s3a://{BUCKET}/landing", f"s3a://{BUCKET}/warehouse",
            f"s3.endpoint={endpoint}", "s3.region=us-east-1", "s3.path_style_access=true",
            "s3.ssl_enabled=false", "s3.credentials=env",
        )
        applied = apply_s3_settings(spark, config.s3)
        assert "fs.s3a.endpoint" in applied and "fs.s3a.secret.key" in applied
        assert runs.run_pipeline(spark, config, day) == three_days.tables
        written = s3.list_objects_v2(Bucket=BUCKET, Prefix="warehouse/curated/fact_sales/_delta_log/")
        assert written.get("KeyCount", 0) > 0, "the Delta log of FACT_SALES is not in the bucket"
        runs.assert_same_tables(DeltaWarehouse(spark, str(three_days.day_one)),
                                DeltaWarehouse(spark, config.warehouse.root), three_days.tables)


def test_env_credentials_are_required_and_never_in_spark_conf(spark):
    settings = S3Settings(endpoint="http://127.0.0.1:1", credentials="env",
                          access_key_env="IT_NO_SUCH_KEY", secret_key_env="IT_NO_SUCH_SECRET")
    with pytest.raises(S3CredentialsMissing, match="IT_NO_SUCH_KEY and IT_NO_SUCH_SECRET"):
        s3a_hadoop_settings(settings, environ={})
    temporary = s3a_hadoop_settings(
        settings, environ={"IT_NO_SUCH_KEY": "a", "IT_NO_SUCH_SECRET": "b", "AWS_SESSION_TOKEN": "t"}
    )
    assert temporary["fs.s3a.aws.credentials.provider"].endswith("TemporaryAWSCredentialsProvider")
    assert temporary["fs.s3a.session.token"] == "t"
    assert s3a_hadoop_settings(S3Settings()) == {}
    assert not any(key.startswith("spark.hadoop.fs.s3a") and "secret" in key
                   for key, _ in spark.sparkContext.getConf().getAll())
