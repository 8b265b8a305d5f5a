import hashlib
import hmac

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.masking import MaskingKeyMissing, hmac_sha256, load_masking_key, mask_columns

KEY = b"k1"


def test_hmac_matches_pythons_hmac_for_short_and_long_keys(spark):
    long_key = b"x" * 100
    df = spark.createDataFrame([("alice",), ("Zoë",), (None,)], "v string")
    out = df.select(hmac_sha256(F.col("v"), KEY).alias("a"), hmac_sha256(F.col("v"), long_key).alias("b"))
    rows = out.collect()
    for (value,), row in zip([("alice",), ("Zoë",)], rows):
        assert row.a == hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()
        assert row.b == hmac.new(long_key, value.encode(), hashlib.sha256).hexdigest()
    assert rows[2].a is None


def test_policies_mask_and_keep_what_they_promise(spark):
    df = spark.createDataFrame(
        [("C1", "Ann.Lee@Example.com", "+1-555-123-4567", "Ann", "secret")],
        "id string, email string, phone string, first string, note string",
    )
    out = mask_columns(df, {"email": "email", "phone": "phone_last4", "first": "hash", "note": "redact"}, KEY)
    row = out.first()
    token = hmac.new(KEY, b"ann.lee", hashlib.sha256).hexdigest()[:16]
    assert row.email == f"{token}@example.com"
    assert row.phone == "***-***-4567"
    assert row.first == hmac.new(KEY, b"Ann", hashlib.sha256).hexdigest()
    assert row.note == "REDACTED"
    assert out.columns == df.columns


def test_same_key_same_token_different_key_different_token(spark):
    df = spark.createDataFrame([("ann@x.com",)], "email string")
    a = mask_columns(df, {"email": "hash"}, b"key-a")
    b = mask_columns(df, {"email": "hash"}, b"key-a")
    c = mask_columns(df, {"email": "hash"}, b"key-b")
    assert_df_equality(a, b)
    assert a.first().email != c.first().email


def test_unknown_columns_and_missing_keys_are_clear_errors(spark, monkeypatch):
    with pytest.raises(ValueError, match="nope"):
        mask_columns(spark.range(1), {"nope": "hash"}, KEY)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(MaskingKeyMissing, match="NO_SUCH_KEY_VAR"):
        load_masking_key("NO_SUCH_KEY_VAR")


def test_key_from_aws_secrets_manager(monkeypatch):
    from moto import mock_aws
    import boto3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name="etl/pii", SecretString="from-secrets")
        assert load_masking_key("UNUSED", secret_id="etl/pii") == b"from-secrets"


def test_a_missing_secret_is_a_clear_error_naming_it(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), pytest.raises(MaskingKeyMissing, match="etl/no-such-key"):
        load_masking_key("UNUSED", secret_id="etl/no-such-key")
