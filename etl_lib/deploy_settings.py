"""The ``deploy:`` section of conf: what ``scripts/deploy.py`` renders specs from.

Nothing a job reads at run time. Account-specific values (ARNs, project ids, buckets)
live in the platform overlays (conf/glue.yaml, conf/emr.yaml, conf/dataproc.yaml); the
shape of the hourly DAG (``deploy.schedule``) lives in conf/base.yaml because it is the
same everywhere. Values that still read ``CHANGE-ME`` render fine but are refused by
``deploy.py apply``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AirflowDeploy",
    "AwsAccount",
    "DataprocDeploy",
    "DeploySettings",
    "EmrDeploy",
    "EmrServerlessDeploy",
    "GlueDeploy",
    "RetryPolicy",
    "Schedule",
    "SnowflakeRefresh",
    "StepFunctionsDeploy",
]

_JOB_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """Seed 001's hourly DAG: stages run in order, the jobs inside a stage in parallel."""

    cron: str = "0 * * * *"
    #: Stage name -> job names (jobs/<name>.py), in run order.
    stages: dict[str, list[str]] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _stages_name_jobs(cls, stages: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: set[str] = set()
        for stage, jobs in stages.items():
            if not jobs:
                raise ValueError(f"stage {stage!r} has no jobs")
            for job in jobs:
                if not _JOB_NAME.match(job):
                    raise ValueError(f"{job!r} in stage {stage!r} is not a job name")
                if job in seen:
                    raise ValueError(f"job {job!r} appears in more than one stage")
                seen.add(job)
        return stages


class AwsAccount(_Strict):
    region: str
    account_id: str

    @field_validator("account_id", mode="before")
    @classmethod
    def _digits_as_text(cls, value: object) -> object:
        """YAML reads an unquoted account id as a number: keep its 12 digits."""
        return f"{value:012d}" if isinstance(value, int) and not isinstance(value, bool) else value


class GlueDeploy(_Strict):
    """One Glue job per entry-point job (Glue names them ``<job_name_prefix><job>``)."""

    role_arn: str
    glue_version: str = "5.1"
    worker_type: Literal["G.025X", "G.1X", "G.2X", "G.4X", "G.8X", "G.12X", "G.16X",
                         "R.1X", "R.2X", "R.4X", "R.8X"] = "G.1X"
    number_of_workers: int = Field(2, ge=2)
    timeout_minutes: int = Field(120, ge=1)
    max_retries: int = Field(0, ge=0, le=10)
    max_concurrent_runs: int = Field(1, ge=1)
    job_name_prefix: str = "retail-etl-"
    #: --TempDir (an s3:// path); Glue picks one when omitted.
    temp_dir: str | None = None
    #: Glue connections (VPC access, e.g. to the OLTP database of the JDBC extract).
    connections: list[str] = Field(default_factory=list)
    security_configuration: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class EmrDeploy(_Strict):
    """spark-submit steps on a running EMR 7.x cluster (AddJobFlowSteps)."""

    cluster_id: str
    action_on_failure: Literal["TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE"] = "CONTINUE"
    deploy_mode: Literal["cluster", "client"] = "cluster"
    #: Runtime role of the steps (EMR runtime roles); the instance profile when omitted.
    execution_role_arn: str | None = None
    #: Python 3.11 on the nodes (EMR 7's default python3 is older): e.g. a bootstrap-installed
    #: /usr/local/bin/python3.11 with the runtime pins; sets spark.pyspark.[driver.]python.
    python: str | None = None
    #: Extra spark-submit --conf (executor sizing and the like).
    spark_conf: dict[str, str] = Field(default_factory=dict)


class EmrServerlessDeploy(_Strict):
    """EMR Serverless StartJobRun on an existing Spark application (release emr-7.x)."""

    application_id: str
    execution_role_arn: str
    #: s3:// prefix for driver and executor logs.
    log_uri: str | None = None
    timeout_minutes: int = Field(120, ge=1)
    #: Python 3.11 with the runtime pins in the application's image (a custom image).
    python: str | None = None
    spark_conf: dict[str, str] = Field(default_factory=dict)


class DataprocDeploy(_Strict):
    """A workflow template (ephemeral cluster, the hourly DAG) and Serverless batches."""

    project_id: str
    region: str
    template_id: str = "retail-etl-hourly"
    cluster_name: str = "retail-etl"
    image_version: str = "2.2-debian12"
    master_machine_type: str = "n2-standard-4"
    worker_machine_type: str = "n2-standard-4"
    num_workers: int = Field(2, ge=2)
    service_account: str | None = None
    subnetwork_uri: str | None = None
    #: Dataproc Serverless runtime version of the batches.
    runtime_version: str = "2.2"
    #: A custom container for batches whose runtime lacks the Python pins (Serverless
    #: cannot pip-install at start-up).
    container_image: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    spark_properties: dict[str, str] = Field(default_factory=dict)


class RetryPolicy(_Strict):
    """Step Functions Retry: wait interval * backoff_rate^n between attempts."""

    interval_seconds: int = Field(60, ge=1)
    max_attempts: int = Field(4, ge=0)
    backoff_rate: float = Field(2.0, ge=1.0)
    max_delay_seconds: int | None = Field(900, ge=1)


class SnowflakeRefresh(_Strict):
    """``ALTER EXTERNAL TABLE ... REFRESH`` through the Snowflake SQL API (an HTTP task).

    The EventBridge connection holds the credential (an API-key connection whose header
    ``Authorization`` is ``Bearer <programmatic access token>``): no secret in conf.
    """

    account_url: str
    connection_arn: str
    external_table: str
    warehouse: str
    role: str | None = None

    @field_validator("account_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("account_url must be https://<account>.snowflakecomputing.com")
        return value.rstrip("/")

    @field_validator("external_table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){2}$", value):
            raise ValueError(f"{value!r} is not DATABASE.SCHEMA.TABLE of plain identifiers")
        return value


class StepFunctionsDeploy(_Strict):
    """Seed 004: S3 object created -> EventBridge -> the reviews jobs -> refresh."""

    state_machine_name: str = "retail-reviews-pipeline"
    role_arn: str
    #: Role EventBridge assumes to start executions (states:StartExecution).
    events_role_arn: str
    rule_name: str = "retail-reviews-landed"
    sns_topic_arn: str
    #: The landing dataset whose new files start a run (etl_lib.landing.DATASETS).
    dataset: str = "reviews"
    #: Glue jobs run in order for the day of the new file.
    steps: list[str] = Field(default_factory=lambda: ["reviews_clean", "reviews_flatten"],
                             min_length=1)
    retry: RetryPolicy = RetryPolicy()
    refresh: SnowflakeRefresh | None = None


class AirflowDeploy(_Strict):
    """The hourly DAG on Airflow 3 (MWAA or any Airflow with the amazon provider)."""

    dag_id: str = "retail_hourly"
    #: What a task starts: a Glue job run (deploy.glue) or an EMR Serverless job run.
    runner: Literal["glue", "emr_serverless"] = "glue"
    owner: str = "data-platform"
    start_date: date = date(2024, 1, 1)
    catchup: bool = False
    max_active_runs: int = Field(1, ge=1)
    retries: int = Field(2, ge=0)
    retry_delay_minutes: int = Field(5, ge=1)
    aws_conn_id: str = "aws_default"
    tags: list[str] = Field(default_factory=lambda: ["retail-etl"])


class DeploySettings(_Strict):
    """Everything scripts/deploy.py renders; each platform's section is optional."""

    #: Where `make package` output is uploaded (s3://bucket/prefix or gs://bucket/prefix).
    artifacts_uri: str | None = None
    #: Maven repository the connector jars for Glue (--extra-jars) are fetched from.
    maven_repository: str = "https://repo1.maven.org/maven2"
    aws: AwsAccount | None = None
    schedule: Schedule | None = None
    glue: GlueDeploy | None = None
    emr: EmrDeploy | None = None
    emr_serverless: EmrServerlessDeploy | None = None
    dataproc: DataprocDeploy | None = None
    stepfunctions: StepFunctionsDeploy | None = None
    airflow: AirflowDeploy | None = None

    @field_validator("artifacts_uri")
    @classmethod
    def _object_store(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(s3|gs)://[^/]+(/.*)?$", value):
            raise ValueError(f"{value!r} is not s3://bucket/prefix or gs://bucket/prefix")
        return value.rstrip("/") if value else value
