"""Configuration: conf/base.yaml + conf/<env>.yaml + ``--conf key=value``, validated once.

The merged document is validated into :class:`AppConfig` at start-up. Any problem is one
:class:`ConfigError` line naming the dotted key and the file (or override) it came from::

    conf error: warehouse.rooot (conf/local.yaml): unknown key
    conf error: spark.shuffle_partitions (--conf): Input should be a valid integer

Job-specific settings live under ``jobs.<job_name>`` and are validated by the job itself
with :meth:`AppConfig.job_params`, so this module knows no job.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from etl_lib.connections import JdbcSourceSettings, S3Settings
from etl_lib.deploy_settings import DeploySettings
from etl_lib.quality.rules import QualitySettings

__all__ = [
    "AppConfig",
    "ConfigError",
    "SnowflakeSettings",
    "load_config",
    "parse_override",
    "TABLE_NAME_PATTERN",
]

TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
#: The repo's conf/ (a checkout or editable install). Packaged builds carry a copy as
#: etl_lib/_conf, read through importlib.resources so it also works from a --py-files zip.
REPO_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CONF_DIR_ENV = "ETL_CONF_DIR"

ParamsT = TypeVar("ParamsT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, phrased as one line that says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkSettings(_Strict):
    """Session settings; ``master`` is used only on the local platform."""

    master: str = "local[2]"
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "2g"
    ui_enabled: bool = False
    #: JVM options of the local driver, which on local[N] runs the tasks too (the reasons
    #: for each are in docs/performance.md). Managed platforms keep their own.
    driver_java_options: str = "-XX:+UseParallelGC -XX:-TieredCompilation -XX:CompileThreshold=3000"
    #: Where frames that several writes reuse are kept (``JobContext.cache``). Memory by
    #: default; conf/local.yaml keeps them on local disk, where the OS page cache holds
    #: them outside the JVM heap the two task threads' garbage collector works through.
    cache_level: Literal["MEMORY_AND_DISK", "DISK_ONLY"] = "MEMORY_AND_DISK"
    conf: dict[str, str] = Field(default_factory=dict)
    #: Extra Maven coordinates for spark.jars.packages, on top of what the run needs.
    packages: list[str] = Field(default_factory=list)
    #: Capabilities whose JVM artifacts Spark must fetch (delta, s3a, snowflake, postgres).
    #: On managed platforms Delta usually comes with the platform: leave it out there.
    capabilities: list[Literal["delta", "s3a", "snowflake", "postgres"]] = Field(
        default_factory=lambda: ["delta"]
    )


class LandingSettings(_Strict):
    """Where upstream drops files (see LANDING_CONTRACT.md); a local path or s3a:// / gs://."""

    root: str
    #: Parse sales CSV with multi-line records (RFC 4180 allows newlines inside quotes).
    #: Off by default: multi-line parsing cannot split a file across tasks.
    sales_multiline: bool = False


class WarehouseSettings(_Strict):
    """Which warehouse adapter a run uses and where the Delta tables live."""

    kind: Literal["delta", "snowflake"] = "delta"
    #: Root of the Delta tables: SCHEMA.NAME is stored at <root>/schema/name.
    root: str


_SNOWFLAKE_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_SNOWFLAKE_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Connector options that carry secrets: they come from env / a secret manager, never conf.
_SECRET_OPTIONS = frozenset({"sfpassword", "pem_private_key", "sftoken", "private_key_path",
                             "pem_private_key_passphrase", "password", "private_key"})


class SnowflakeSettings(_Strict):
    """Where and as whom the Snowflake adapter connects (``warehouse.kind: snowflake``).

    Secrets are never held here, only where to find them: key-pair auth reads the PEM key
    from AWS Secrets Manager (``private_key_secret_id``) or the env var ``private_key_env``;
    password auth (or the fallback when no key is found) reads ``password_env``.
    """

    #: Account identifier, e.g. ``myorg-myaccount`` or ``xy12345.eu-west-1``.
    account: str
    user: str
    role: str | None = None
    warehouse: str
    database: str
    schema_: str = Field("PUBLIC", alias="schema")
    #: Full URL when it is not ``https://<account>.snowflakecomputing.com`` (PrivateLink, proxy).
    url: str | None = None
    auth: Literal["key_pair", "password"] = "key_pair"
    private_key_secret_id: str | None = None
    private_key_secret_region: str | None = None
    private_key_env: str = "SNOWFLAKE_PRIVATE_KEY"
    private_key_passphrase_env: str = "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"
    password_env: str = "SNOWFLAKE_PASSWORD"
    #: Session time zone of the connector (``sfTimezone``); jobs compute in UTC.
    timezone: str = "UTC"
    #: ``spark_connector`` (production) or ``python_connector`` (small loads through the
    #: driver with snowflake-connector-python: tests on fakesnow, DDL scripts).
    transport: Literal["spark_connector", "python_connector"] = "spark_connector"
    #: Extra non-secret spark-snowflake options, e.g. ``{parallelism: "8"}``.
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("account")
    @classmethod
    def _account_is_plain(cls, value: str) -> str:
        if not _SNOWFLAKE_ACCOUNT.match(value):
            raise ValueError(f"{value!r} is not an account identifier (letters, digits, - _ .)")
        return value

    @field_validator("user", "role", "warehouse", "database", "schema_")
    @classmethod
    def _plain_identifier(cls, value: str | None) -> str | None:
        if value is not None and not _SNOWFLAKE_IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a plain identifier (letters, digits, _ and $)")
        return value

    @field_validator("options")
    @classmethod
    def _no_secret_options(cls, options: dict[str, str]) -> dict[str, str]:
        secret = sorted(k for k in options if k.lower() in _SECRET_OPTIONS)
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: secrets never go in conf; use private_key_secret_id, "
                "private_key_env or password_env"
            )
        return options


class LoggingSettings(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``auto``: readable text locally, JSON lines on clusters.
    format: Literal["auto", "text", "json"] = "auto"


class MaskingSettings(_Strict):
    """PII masking: where the key is, and a policy per column per dataset."""

    #: Environment variable holding the HMAC key (used when no secret id is set).
    key_env: str = "ETL_PII_KEY"
    #: AWS Secrets Manager secret id holding the key (preferred on AWS).
    key_secret_id: str | None = None
    key_secret_region: str | None = None
    #: dataset -> column -> hash | email | phone_last4 | redact
    policies: dict[str, dict[str, Literal["hash", "email", "phone_last4", "redact"]]] = Field(
        default_factory=dict
    )


class AppConfig(_Strict):
    """The validated configuration of one run."""

    env: str
    platform: Literal["auto", "local", "emr", "glue", "dataproc"] = "auto"
    spark: SparkSettings = SparkSettings()
    landing: LandingSettings
    warehouse: WarehouseSettings
    #: Connection settings of the Snowflake adapter; required when warehouse.kind is snowflake.
    snowflake: SnowflakeSettings | None = Field(None, validate_default=True)
    logging: LoggingSettings = LoggingSettings()
    masking: MaskingSettings = MaskingSettings()
    #: Data quality rules per logical table (see etl_lib.quality.rules).
    quality: QualitySettings = QualitySettings()
    #: How s3a:// reaches S3 or an S3 API server (endpoint, path style, credentials source).
    s3: S3Settings = S3Settings()
    #: JDBC databases jobs extract from, by name (credentials from env / secret manager).
    sources: dict[str, JdbcSourceSettings] = Field(default_factory=dict)
    #: What scripts/deploy.py renders (Glue, EMR, Dataproc, Step Functions, Airflow).
    deploy: DeploySettings | None = None
    #: Logical table name -> SCHEMA.NAME.
    tables: dict[str, str]
    #: Per-job settings, validated by each job with :meth:`job_params`.
    jobs: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("snowflake")
    @classmethod
    def _snowflake_when_used(cls, value: SnowflakeSettings | None, info: Any) -> Any:
        warehouse = info.data.get("warehouse")
        if value is None and warehouse is not None and warehouse.kind == "snowflake":
            raise ValueError(
                "warehouse.kind is snowflake but there is no snowflake: section "
                "(account, user, warehouse, database, ...)"
            )
        return value

    @field_validator("tables")
    @classmethod
    def _table_names_are_identifiers(cls, tables: dict[str, str]) -> dict[str, str]:
        for logical, name in tables.items():
            if not TABLE_NAME_PATTERN.match(name):
                raise ValueError(
                    f"table {logical!r} = {name!r} is not SCHEMA.NAME made of letters, digits, _"
                )
        return {logical: name.upper() for logical, name in tables.items()}

    def table(self, logical_name: str) -> str:
        """Return the SCHEMA.NAME bound to ``logical_name`` in conf ``tables``."""
        try:
            return self.tables[logical_name]
        except KeyError:
            raise ConfigError(
                f"conf error: tables.{logical_name}: not set (known: {', '.join(sorted(self.tables))})"
            ) from None

    def job_params(self, job_name: str, model: type[ParamsT]) -> ParamsT:
        """Validate ``jobs.<job_name>`` against ``model`` (missing section = model defaults)."""
        raw = self.jobs.get(job_name, {})
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(["jobs", job_name, *map(str, err["loc"])])
            raise ConfigError(f"conf error: {key}: {_describe(err)}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key.path=value``; the value is read as YAML (``4`` is an int, ``true`` a bool)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"conf error: --conf {text!r}: expected key=value")
    return key.strip(), yaml.safe_load(value) if value.strip() else ""


def load_config(
    env: str,
    overrides: list[str] | tuple[str, ...] = (),
    conf_dir: Path | str | None = None,
) -> AppConfig:
    """Load base.yaml, overlay ``<env>.yaml`` and ``key=value`` overrides, then validate.

    Raises:
        ConfigError: a missing file, bad YAML, an unknown key or a wrong type, naming the
            dotted key and the file (or ``--conf``) it came from.
    """
    directory = _conf_directory(conf_dir)
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for path in (directory / "base.yaml", directory / f"{env}.yaml"):
        _overlay(merged, _read_yaml(path), _display(path), origins, ())
    for text in overrides:
        key, value = parse_override(text)
        nested: Any = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        _overlay(merged, nested, "--conf", origins, ())
    merged["env"] = env
    try:
        return AppConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(part) for part in err["loc"])
        raise ConfigError(
            f"conf error: {'.'.join(loc)} ({_origin(loc, origins)}): {_describe(err)}"
        ) from None


def _conf_directory(conf_dir: Path | str | None) -> Path | Traversable:
    """conf_dir if given, else $ETL_CONF_DIR, else the repo's conf/, else the packaged copy."""
    if conf_dir:
        return Path(conf_dir)
    if os.environ.get(CONF_DIR_ENV):
        return Path(os.environ[CONF_DIR_ENV])
    if (REPO_CONF_DIR / "base.yaml").is_file():
        return REPO_CONF_DIR
    return resources.files("etl_lib") / "_conf"


def _read_yaml(path: Path | Traversable) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"conf error: {_display(path)}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"conf error: {_display(path)}{where}: invalid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"conf error: {_display(path)}: top level must be a mapping")
    return data


def _overlay(
    target: dict[str, Any],
    source: dict[str, Any],
    origin: str,
    origins: dict[tuple[str, ...], str],
    prefix: tuple[str, ...],
) -> None:
    """Deep-merge ``source`` into ``target`` in place, recording each leaf's origin."""
    for key, value in source.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _overlay(target[key], value, origin, origins, path)
        else:
            target[key] = value
            origins[path] = origin
            if isinstance(value, dict):
                _record_leaves(value, origin, origins, path)


def _record_leaves(value: dict[str, Any], origin: str, origins: dict, prefix: tuple) -> None:
    for key, child in value.items():
        origins[(*prefix, str(key))] = origin
        if isinstance(child, dict):
            _record_leaves(child, origin, origins, (*prefix, str(key)))


def _origin(loc: tuple[str, ...], origins: dict[tuple[str, ...], str]) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return "defaults"


def _describe(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def _display(path: Path | Traversable) -> str:
    if not isinstance(path, Path):
        return f"etl_lib/_conf/{path.name}"
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
