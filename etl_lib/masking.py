"""PII masking with Spark built-ins: keyed hash (HMAC-SHA256), email, phone, redact.

Policies are per column, from conf ``masking.policies.<dataset>``:

* ``hash``: HMAC-SHA256 of the value under the masking key, hex. Same value + same key
  gives the same token (joins and distinct counts still work); another key, another token.
* ``email``: ``<first 16 hex of the HMAC of the local part>@<domain>``: the domain stays.
* ``phone_last4``: every digit but the last four replaced: ``***-***-4567``.
* ``redact``: the literal ``REDACTED``.

The key comes from an environment variable or AWS Secrets Manager, never from a file in
the repo. HMAC is computed from built-ins (``sha2`` over the key's inner/outer pads), so
no Python UDF runs; the pads are literals in the plan, so keep the Spark UI behind access
control as you would the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.io.secrets import SecretNotFoundError, aws_secret, env_secret

__all__ = [
    "MaskingKeyMissing",
    "Policy",
    "hmac_sha256",
    "load_masking_key",
    "mask_columns",
    "mask_email",
    "mask_phone",
]

Policy = Literal["hash", "email", "phone_last4", "redact"]
_BLOCK = 64  # SHA-256 block size in bytes


class MaskingKeyMissing(RuntimeError):
    """No masking key is configured where the conf says to find it."""


def load_masking_key(env_var: str, secret_id: str | None = None, region: str | None = None) -> bytes:
    """The masking key: from AWS Secrets Manager when ``secret_id`` is set, else ``env_var``.

    Raises:
        MaskingKeyMissing: neither source holds a non-empty key.
    """
    if secret_id:
        try:
            return aws_secret(secret_id, region).get_secret_value().encode("utf-8")
        except SecretNotFoundError as exc:
            raise MaskingKeyMissing(f"PII masking key missing: {exc}") from None
    value = env_secret(env_var)
    if value is None:
        raise MaskingKeyMissing(
            f"PII masking key missing: set the environment variable {env_var} "
            "(or masking.key_secret_id for AWS Secrets Manager)"
        )
    return value.get_secret_value().encode("utf-8")


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256(value: Column, key: bytes) -> Column:
    """HMAC-SHA256 of ``value`` (cast to UTF-8 text) under ``key``, as 64 hex chars; null stays null."""
    inner_pad, outer_pad = _pads(key)
    message = F.encode(value.cast("string"), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.when(value.isNotNull(), F.sha2(F.concat(F.lit(outer_pad), inner), 256))


def mask_email(value: Column, key: bytes) -> Column:
    """``local@domain`` -> ``<16 hex of HMAC(local)>@domain``; text without ``@`` is hashed whole."""
    local = F.substring_index(value, "@", 1)
    domain = F.substring_index(value, "@", -1)
    token = F.substring(hmac_sha256(F.lower(local), key), 1, 16)
    return F.when(value.contains("@"), F.concat(token, F.lit("@"), F.lower(domain))).otherwise(
        hmac_sha256(value, key)
    )


def mask_phone(value: Column) -> Column:
    """Keep the last four digits: ``+1-555-123-4567`` -> ``***-***-4567``."""
    digits = F.regexp_replace(value, r"[^0-9]", "")
    return F.when(value.isNotNull(), F.concat(F.lit("***-***-"), F.substring(digits, -4, 4)))


def _masked(policy: Policy, value: Column, key: bytes) -> Column:
    if policy == "hash":
        return hmac_sha256(value, key)
    if policy == "email":
        return mask_email(value, key)
    if policy == "phone_last4":
        return mask_phone(value)
    if policy == "redact":
        return F.when(value.isNotNull(), F.lit("REDACTED"))
    raise ValueError(f"unknown masking policy {policy!r}: use hash, email, phone_last4 or redact")


def mask_columns(df: DataFrame, policies: Mapping[str, Policy], key: bytes) -> DataFrame:
    """Replace each column named in ``policies`` by its masked value (same name and position).

    Example:
        >>> masked = mask_columns(customers, {"email": "email", "phone": "phone_last4"}, key)
    """
    missing = sorted(set(policies) - set(df.columns))
    if missing:
        raise ValueError(f"mask_columns: columns not in frame: {', '.join(missing)}")
    if not key:
        raise ValueError("mask_columns: the masking key is empty")
    return df.withColumns({c: _masked(p, F.col(c), key) for c, p in policies.items()})
