"""Snowflake credentials and connection options from conf + secrets, never logged.

Key-pair auth is preferred: the PEM private key comes from AWS Secrets Manager
(``snowflake.private_key_secret_id``) or the env var ``snowflake.private_key_env``; an
encrypted key is decrypted with the passphrase from the same JSON secret
(``private_key_passphrase``) or ``snowflake.private_key_passphrase_env``. Without a key,
the password in ``snowflake.password_env`` is the fallback (``auth: password`` uses it
directly). Secrets travel as :class:`pydantic.SecretStr` until the options are built, and
:func:`redacted` is the only form of the options fit for a log line.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from etl_lib.config import SnowflakeSettings
from etl_lib.io.secrets import SecretNotFoundError, aws_secret, env_secret, secret_field

__all__ = [
    "Credentials",
    "SnowflakeAuthError",
    "connector_options",
    "python_connect_args",
    "redacted",
    "resolve_credentials",
]

log = logging.getLogger(__name__)

#: Option names whose values are secrets (lower-case, as the connector compares them).
SECRET_OPTION_NAMES = frozenset({"sfpassword", "pem_private_key", "sftoken", "password",
                                 "private_key", "private_key_file_pwd"})


class SnowflakeAuthError(RuntimeError):
    """No usable Snowflake credential where the conf says to find one."""


@dataclass(frozen=True)
class Credentials:
    """A resolved credential: key pair (base64 PKCS#8 DER key) or password, and its source."""

    method: Literal["key_pair", "password"]
    secret: SecretStr
    #: Where it came from, for logs and errors (never the value).
    source: str


def resolve_credentials(
    settings: SnowflakeSettings,
    environ: Mapping[str, str] | None = None,
    secrets_client: Any = None,
) -> Credentials:
    """The credential ``settings`` point at (see the module docstring for the order).

    Raises:
        SnowflakeAuthError: nothing found, or the key is not a readable private key.
    """
    if settings.auth == "key_pair":
        key = _find_private_key(settings, environ, secrets_client)
        if key is not None:
            return key
    password = env_secret(settings.password_env, environ)
    if password is not None:
        if settings.auth == "key_pair":
            log.warning(
                "snowflake: no private key (secret id %s, env %s); falling back to password auth "
                "from env %s", settings.private_key_secret_id or "unset", settings.private_key_env,
                settings.password_env,
            )
        return Credentials("password", password, f"env {settings.password_env}")
    tried = [f"env {settings.password_env}"]
    if settings.auth == "key_pair":
        tried[:0] = [f"env {settings.private_key_env}"]
    raise SnowflakeAuthError(
        f"no Snowflake credential for user {settings.user}: looked in {', '.join(tried)}; set "
        "snowflake.private_key_secret_id, or one of those environment variables"
    )


def _find_private_key(
    settings: SnowflakeSettings, environ: Mapping[str, str] | None, secrets_client: Any
) -> Credentials | None:
    if settings.private_key_secret_id:
        source = f"AWS Secrets Manager {settings.private_key_secret_id}"
        try:
            secret = aws_secret(
                settings.private_key_secret_id, settings.private_key_secret_region, secrets_client
            )
        except SecretNotFoundError as exc:
            raise SnowflakeAuthError(f"snowflake private key: {exc}") from None
        pem = secret_field(secret, "private_key")
        if pem is None:
            raise SnowflakeAuthError(f"{source} is a JSON object without a 'private_key' field")
        passphrase = secret_field(secret, "private_key_passphrase", plain_is_value=False)
        passphrase = passphrase or env_secret(settings.private_key_passphrase_env, environ)
        return Credentials("key_pair", pkcs8_base64(pem, passphrase, source), source)
    pem = env_secret(settings.private_key_env, environ)
    if pem is None:
        return None
    source = f"env {settings.private_key_env}"
    passphrase = env_secret(settings.private_key_passphrase_env, environ)
    return Credentials("key_pair", pkcs8_base64(pem, passphrase, source), source)


def pkcs8_base64(key: SecretStr, passphrase: SecretStr | None, source: str) -> SecretStr:
    """An RSA private key (PEM, PEM with literal ``\\n``, or base64 DER) as unencrypted
    base64 PKCS#8 DER: the form spark-snowflake's ``pem_private_key`` expects.

    Raises:
        SnowflakeAuthError: naming ``source``, never the key.
    """
    from cryptography.hazmat.primitives import serialization

    text = key.get_secret_value().strip().replace("\\n", "\n")
    password = passphrase.get_secret_value().encode() if passphrase else None
    try:
        if text.startswith("-----BEGIN"):
            private = serialization.load_pem_private_key(text.encode(), password=password)
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            private = serialization.load_der_private_key(der, password=password)
    except (ValueError, TypeError, binascii.Error):
        raise SnowflakeAuthError(
            f"the Snowflake private key from {source} is not a readable private key (PEM or "
            "base64 DER), or its passphrase is missing or wrong"
        ) from None
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SecretStr(base64.b64encode(der).decode("ascii"))


def _endpoint(settings: SnowflakeSettings) -> tuple[str, int, str]:
    """(host, port, protocol) of the account's endpoint."""
    if not settings.url:
        return f"{settings.account}.snowflakecomputing.com", 443, "https"
    parts = urlsplit(settings.url if "://" in settings.url else f"https://{settings.url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SnowflakeAuthError(
            f"snowflake.url {settings.url!r} is not an http(s)://host[:port] URL"
        )
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), parts.scheme


def connector_options(settings: SnowflakeSettings, credentials: Credentials) -> dict[str, str]:
    """spark-snowflake options (``sfURL``, ``pem_private_key``, ...), pushdown on.

    Contains the secret: pass it to the connector, log :func:`redacted` of it.
    """
    host, port, protocol = _endpoint(settings)
    options = {
        "sfURL": f"{host}:{port}",
        "sfSSL": "on" if protocol == "https" else "off",
        "sfAccount": settings.account.split(".")[0],
        "sfUser": settings.user,
        "sfWarehouse": settings.warehouse,
        "sfDatabase": settings.database,
        "sfSchema": settings.schema_,
        "sfTimezone": settings.timezone,
        "autopushdown": "on",
        "keep_column_case": "off",
        "column_mapping": "name",
        **settings.options,
    }
    if settings.role:
        options["sfRole"] = settings.role
    secret = credentials.secret.get_secret_value()
    options["pem_private_key" if credentials.method == "key_pair" else "sfPassword"] = secret
    return options


def python_connect_args(settings: SnowflakeSettings, credentials: Credentials) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` (qmark binding, same session)."""
    host, port, protocol = _endpoint(settings)
    args: dict[str, Any] = {
        "account": settings.account,
        "user": settings.user,
        "warehouse": settings.warehouse,
        "database": settings.database,
        "schema": settings.schema_,
        "paramstyle": "qmark",
        "session_parameters": {"TIMEZONE": settings.timezone},
    }
    if settings.url:
        args.update(host=host, port=port, protocol=protocol)
    if settings.role:
        args["role"] = settings.role
    if credentials.method == "key_pair":
        args["private_key"] = base64.b64decode(credentials.secret.get_secret_value())
    else:
        args["password"] = credentials.secret.get_secret_value()
    return args


def redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every secret value replaced by ``**********`` (safe to log)."""
    return {
        key: "**********" if key.lower() in SECRET_OPTION_NAMES else value
        for key, value in options.items()
    }
