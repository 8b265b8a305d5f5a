"""Settings for what a run connects to: the S3 API (``s3:``) and JDBC sources (``sources:``).

Only *where to find* a secret lives here (an env var name, a secret id), never a secret:
``etl_lib.io.s3`` and ``etl_lib.io.jdbc`` read the values at run time.

    s3:
      endpoint: http://127.0.0.1:9000     # an S3 API server; omit for AWS
      path_style_access: true
      credentials: env                    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    sources:
      oltp:
        url: jdbc:postgresql://db.internal:5432/retail
        user_env: OLTP_USER
        password_env: OLTP_PASSWORD
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["JdbcSourceSettings", "S3Settings"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class S3Settings(_Strict):
    """How s3a:// reaches S3 or an S3-compatible server (applied as ``fs.s3a.*``).

    ``credentials``: ``default`` leaves Hadoop's provider chain alone (instance profile,
    IRSA, Glue/EMR roles); ``env`` reads the keys from the environment variables named
    below when the session starts; ``anonymous`` for public buckets.
    """

    endpoint: str | None = None
    region: str | None = None
    path_style_access: bool = False
    ssl_enabled: bool = True
    credentials: Literal["default", "env", "anonymous"] = "default"
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"

    @field_validator("access_key_env", "secret_key_env", "session_token_env")
    @classmethod
    def _env_names(cls, value: str) -> str:
        return _env_name(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(f"{value!r} is not an endpoint URL like http://host:port")
        return value.rstrip("/") if value else value

    @property
    def configured(self) -> bool:
        """True when anything differs from plain AWS defaults."""
        return self != S3Settings()


class JdbcSourceSettings(_Strict):
    """A JDBC database a job extracts from; credentials come from env or a secret manager.

    With ``secret_id`` the credentials are the ``username`` and ``password`` fields of that
    AWS Secrets Manager secret (the shape RDS-managed secrets have); otherwise they are the
    values of the environment variables ``user_env`` and ``password_env``.
    """

    url: str
    driver: str = "org.postgresql.Driver"
    user_env: str = "JDBC_USER"
    password_env: str = "JDBC_PASSWORD"
    secret_id: str | None = None
    secret_region: str | None = None
    #: Rows per round trip of the JDBC driver (Spark's ``fetchsize``).
    fetch_size: int = Field(10_000, ge=1)

    @field_validator("user_env", "password_env")
    @classmethod
    def _env_names(cls, value: str) -> str:
        return _env_name(value)

    @field_validator("url")
    @classmethod
    def _jdbc_url(cls, value: str) -> str:
        if not value.startswith("jdbc:"):
            raise ValueError(f"{value!r} is not a JDBC URL (jdbc:<subprotocol>://...)")
        if re.search(r"(?i)[?&;](password|pwd)=", value):
            raise ValueError("the URL carries a password: use password_env or secret_id")
        return value
