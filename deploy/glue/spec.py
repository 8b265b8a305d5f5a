"""AWS Glue 5.1 job definitions: one Glue CreateJob request per job entry point.

Every job gets etl_lib as ``--extra-py-files`` (plus, for the pipeline job, the step
scripts it imports), the runtime pins of setup.cfg as ``--additional-python-modules``,
Delta through ``--datalake-formats delta`` (Glue 5.1 ships Delta 3.3.2) with the two
session settings Glue wants in ``--conf``, and the connector jars the platform lacks
(Snowflake when warehouse.kind is snowflake, a job's own CAPABILITIES) as ``--extra-jars``:
Glue cannot resolve Maven coordinates, so ``deploy.py apply`` uploads those jars.
"""

from __future__ import annotations

from typing import Any

from deploy.render import RenderContext
from etl_lib import versions
from etl_lib.session import session_conf

__all__ = ["create_job_request", "glue_job_name", "jar_key", "jar_coordinates", "render"]

#: Capabilities Glue itself provides: Delta (--datalake-formats) and S3 (its own s3://).
_PROVIDED = frozenset({"delta", "s3a"})
_DELTA_KEYS = ("spark.sql.extensions", "spark.sql.catalog.spark_catalog")


def glue_job_name(ctx: RenderContext, job: str) -> str:
    return f"{ctx.section('glue').job_name_prefix}{job}"


def jar_coordinates(ctx: RenderContext, job: str) -> list[str]:
    """Maven coordinates a Glue run of ``job`` needs as jars (their runtime closure is the
    listed coordinates themselves: snowflake-jdbc is a shaded jar, the PostgreSQL driver
    has no runtime dependency, spark-snowflake's come with Spark)."""
    capabilities = list(ctx.job(job).capabilities)
    if ctx.config.warehouse.kind == "snowflake":
        capabilities.append("snowflake")
    coordinates = [c for cap in dict.fromkeys(capabilities) if cap not in _PROVIDED
                   for c in versions.PACKAGES[cap]]
    return list(dict.fromkeys(coordinates))


def jar_key(coordinate: str) -> str:
    """``group:artifact:version`` -> ``jars/<artifact>-<version>.jar`` (under artifacts_uri)."""
    _, artifact, version = coordinate.split(":")
    return f"jars/{artifact}-{version}.jar"


def create_job_request(ctx: RenderContext, job: str) -> dict[str, Any]:
    """The Glue CreateJob parameters for ``job`` (UpdateJob takes the same as JobUpdate)."""
    glue = ctx.section("glue")
    arguments = {
        "--env": ctx.env,
        "--job-language": "python",
        "--extra-py-files": ",".join(ctx.py_files(job)),
        "--additional-python-modules": ",".join(ctx.python_requirements),
        "--enable-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
    }
    if ctx.config.warehouse.kind == "delta":
        conf = session_conf(ctx.config, "glue")
        arguments["--datalake-formats"] = "delta"
        arguments["--conf"] = " --conf ".join(f"{k}={conf[k]}" for k in _DELTA_KEYS)
    jars = [f"{ctx.artifacts}/{jar_key(c)}" for c in jar_coordinates(ctx, job)]
    if jars:
        arguments["--extra-jars"] = ",".join(jars)
    if glue.temp_dir:
        arguments["--TempDir"] = glue.temp_dir
    request: dict[str, Any] = {
        "Name": glue_job_name(ctx, job),
        "Description": f"retail-etl {job} (conf {ctx.env}); pass --run-date YYYY-MM-DD",
        "Role": glue.role_arn,
        "Command": {"Name": "glueetl", "ScriptLocation": ctx.script_uri(job),
                    "PythonVersion": "3"},
        "DefaultArguments": arguments,
        "GlueVersion": glue.glue_version,
        "WorkerType": glue.worker_type,
        "NumberOfWorkers": glue.number_of_workers,
        "Timeout": glue.timeout_minutes,
        "MaxRetries": glue.max_retries,
        "ExecutionProperty": {"MaxConcurrentRuns": glue.max_concurrent_runs},
        "Tags": {"app": "retail-etl", "job": job, **glue.tags},
    }
    if glue.connections:
        request["Connections"] = {"Connections": list(glue.connections)}
    if glue.security_configuration:
        request["SecurityConfiguration"] = glue.security_configuration
    return request


def render(ctx: RenderContext) -> dict[str, Any]:
    """``glue/jobs/<job>.json`` for every job entry point."""
    return {f"glue/jobs/{job}.json": create_job_request(ctx, job) for job in sorted(ctx.jobs)}
