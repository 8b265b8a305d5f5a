"""Secrets from environment variables or AWS Secrets Manager, wrapped so they never print.

Every value comes back as a :class:`pydantic.SecretStr`: ``str()``, ``repr()`` and log
formatting show ``**********``; only ``.get_secret_value()`` reveals it, at the point of use.
Error messages name where a secret was looked for, never what it holds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr

__all__ = ["SecretNotFoundError", "aws_secret", "env_secret", "quiet_loggers", "secret_field"]


class SecretNotFoundError(LookupError):
    """A secret is not where the configuration says it is."""


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Hold the loggers ``names`` at INFO or above for the block.

    Client libraries log whole requests and responses at DEBUG (botocore the secret it
    fetched, py4j every argument sent to the JVM): a secret passing through them must not
    reach a DEBUG log.
    """
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def env_secret(name: str, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The non-empty value of environment variable ``name``, or None when unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "")
    return SecretStr(value) if value else None


def aws_secret(secret_id: str, region: str | None = None, client: Any = None) -> SecretStr:
    """The ``SecretString`` of ``secret_id`` in AWS Secrets Manager.

    Raises:
        SecretNotFoundError: the secret does not exist, cannot be read, or holds no string.
    """
    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=region)
    try:
        with quiet_loggers("botocore", "urllib3"):
            response = client.get_secret_value(SecretId=secret_id)
    except Exception as exc:  # botocore ClientError and credential errors alike
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise SecretNotFoundError(
            f"AWS Secrets Manager secret {secret_id!r} could not be read ({code}): check the id, "
            "the region and the IAM permission secretsmanager:GetSecretValue"
        ) from None
    value = response.get("SecretString") or ""
    if not value:
        raise SecretNotFoundError(f"AWS Secrets Manager secret {secret_id!r} has no SecretString")
    return SecretStr(value)


def secret_field(secret: SecretStr, field: str, plain_is_value: bool = True) -> SecretStr | None:
    """``field`` of a JSON-object secret, or the whole secret when it is plain text.

    Lets one secret hold either a bare value (a PEM key) or several named values
    (``{"private_key": "...", "private_key_passphrase": "..."}``). Returns None when the
    JSON object has no such field, or when the secret is plain and ``plain_is_value`` is off.
    """
    try:
        document = json.loads(secret.get_secret_value())
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return secret if plain_is_value else None
    value = document.get(field)
    return SecretStr(str(value)) if value else None
