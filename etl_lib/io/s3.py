"""s3a:// access: conf ``s3:`` -> Hadoop ``fs.s3a.*`` settings of a live SparkSession.

:func:`etl_lib.session.build_session` applies them when a session starts. Hadoop reads
``fs.s3a.*`` when it first creates the FileSystem of a bucket and caches it per JVM, so
settings applied later reach only buckets this JVM has not touched yet (tests use a fresh
bucket per server for that reason).

Secrets are read from the environment at the moment they are applied and set only on the
session's Hadoop configuration, never in SparkConf (so never in the UI or event logs).

Delta on S3: a single writer per table is safe with Delta's default
``S3SingleDriverLogStore``; concurrent writers from several clusters need the DynamoDB
LogStore (see docs/running-on-clusters.md).

Example::

    apply_s3_settings(spark, S3Settings(endpoint="http://127.0.0.1:9000",
                                        path_style_access=True, credentials="env"))
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pyspark.sql import SparkSession

from etl_lib.connections import S3Settings

__all__ = ["S3CredentialsMissing", "apply_s3_settings", "s3a_hadoop_settings"]

_PROVIDERS = {
    "simple": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "temporary": "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
    "anonymous": "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider",
}
#: Keys whose values are secrets: never logged, never put in SparkConf.
SECRET_KEYS = frozenset({"fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token"})


class S3CredentialsMissing(RuntimeError):
    """``s3.credentials: env`` but the environment does not hold the keys."""


def s3a_hadoop_settings(
    settings: S3Settings, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The ``fs.s3a.*`` keys for ``settings`` (only those that differ from Hadoop's defaults).

    Raises:
        S3CredentialsMissing: ``credentials`` is ``env`` and a key variable is unset.
    """
    env = os.environ if environ is None else environ
    conf: dict[str, str] = {}
    if settings.endpoint:
        conf["fs.s3a.endpoint"] = settings.endpoint
    if settings.region:
        conf["fs.s3a.endpoint.region"] = settings.region
    if settings.path_style_access:
        conf["fs.s3a.path.style.access"] = "true"
    if not settings.ssl_enabled:
        conf["fs.s3a.connection.ssl.enabled"] = "false"
    if settings.credentials == "anonymous":
        conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS["anonymous"]
    elif settings.credentials == "env":
        conf.update(_env_credentials(settings, env))
    return conf


def _env_credentials(settings: S3Settings, env: Mapping[str, str]) -> dict[str, str]:
    access, secret = env.get(settings.access_key_env), env.get(settings.secret_key_env)
    missing = [name for name, value in ((settings.access_key_env, access),
                                        (settings.secret_key_env, secret)) if not value]
    if missing:
        raise S3CredentialsMissing(
            f"s3.credentials is 'env' but {' and '.join(missing)} not set: export them, or "
            "use s3.credentials: default to take the platform's role"
        )
    conf = {"fs.s3a.access.key": str(access), "fs.s3a.secret.key": str(secret)}
    token = env.get(settings.session_token_env)
    if token:
        conf["fs.s3a.session.token"] = token
        conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS["temporary"]
    else:
        conf["fs.s3a.aws.credentials.provider"] = _PROVIDERS["simple"]
    return conf


def apply_s3_settings(
    spark: SparkSession, settings: S3Settings, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Set the ``fs.s3a.*`` keys of ``settings`` on the live session; return the key names."""
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf = s3a_hadoop_settings(settings, environ)
    for key, value in conf.items():
        hadoop_conf.set(key, value)
    return sorted(conf)
