"""Snowflake credentials: Secrets Manager (moto), env, password fallback; conf validation.

moto's in-process AWS runs the real boto3 client; keys are real RSA keys.
"""

from __future__ import annotations

import base64
import json
import logging

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from etl_lib.config import ConfigError, load_config
from etl_lib.io.snowflake_auth import (
    SnowflakeAuthError,
    connector_options,
    python_connect_args,
    redacted,
    resolve_credentials,
)

pytestmark = pytest.mark.snowflake

SNOWFLAKE = ("snowflake={account: xy12345.eu-west-1, user: ETL_SERVICE, role: ETL_ROLE, "
             "warehouse: TRANSFORM_WH, database: RETAIL, schema: CURATED")


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key, passphrase=None):
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption).decode()


def der(key):
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def settings(*extra):
    text = SNOWFLAKE + "".join(f", {e}" for e in extra) + "}"
    return load_config("local", [text]).snowflake


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_key_from_secrets_manager_json_with_passphrase_becomes_pkcs8_der(key, aws):
    aws.create_secret(Name="etl/sf", SecretString=json.dumps(
        {"private_key": pem(key, "s3cret"), "private_key_passphrase": "s3cret"}))
    credentials = resolve_credentials(settings("private_key_secret_id: etl/sf"), environ={})
    assert credentials.method == "key_pair" and credentials.source == "AWS Secrets Manager etl/sf"
    assert base64.b64decode(credentials.secret.get_secret_value()) == der(key)
    assert "s3cret" not in repr(credentials) and "MII" not in str(credentials)


def test_a_configured_secret_that_cannot_be_read_is_an_error_not_a_fallback(aws):
    message = "'etl/missing' could not be read .*GetSecretValue"
    with pytest.raises(SnowflakeAuthError, match=message):
        resolve_credentials(settings("private_key_secret_id: etl/missing"),
                            environ={"SNOWFLAKE_PASSWORD": "pw"})


def test_key_from_env_plain_pem_with_escaped_newlines_or_base64_der(key):
    escaped = pem(key).replace("\n", "\\n")
    for value in (escaped, base64.b64encode(der(key)).decode()):
        credentials = resolve_credentials(settings(), environ={"SNOWFLAKE_PRIVATE_KEY": value})
        assert credentials.source == "env SNOWFLAKE_PRIVATE_KEY"
        assert base64.b64decode(credentials.secret.get_secret_value()) == der(key)


def test_encrypted_key_without_its_passphrase_says_so_without_the_key(key):
    encrypted = pem(key, "right")
    for environ in ({"SNOWFLAKE_PRIVATE_KEY": encrypted},
                    {"SNOWFLAKE_PRIVATE_KEY": encrypted,
                     "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "wrong"},
                    {"SNOWFLAKE_PRIVATE_KEY": "not a key"}):
        message = "env SNOWFLAKE_PRIVATE_KEY is not a readable"
        with pytest.raises(SnowflakeAuthError, match=message) as error:
            resolve_credentials(settings(), environ=environ)
        assert "ENCRYPTED" not in str(error.value) and "not a key" not in str(error.value)


def test_password_is_the_fallback_with_a_warning_and_the_only_way_with_auth_password(caplog):
    caplog.set_level(logging.WARNING)
    credentials = resolve_credentials(settings(), environ={"SNOWFLAKE_PASSWORD": "pw-123"})
    assert (credentials.method, credentials.source) == ("password", "env SNOWFLAKE_PASSWORD")
    assert "falling back to password auth" in caplog.text and "pw-123" not in caplog.text
    message = "looked in env SNOWFLAKE_PRIVATE_KEY, env SNOWFLAKE_PASSWORD"
    with pytest.raises(SnowflakeAuthError, match=message):
        resolve_credentials(settings(), environ={})
    with pytest.raises(SnowflakeAuthError, match="looked in env ETL_PW;"):
        resolve_credentials(settings("auth: password", "password_env: ETL_PW"),
                            environ={"SNOWFLAKE_PRIVATE_KEY": "ignored"})


def test_connector_options_carry_the_key_and_redact_it(key):
    credentials = resolve_credentials(settings("options: {parallelism: '8'}"),
                                      environ={"SNOWFLAKE_PRIVATE_KEY": pem(key)})
    options = connector_options(settings("options: {parallelism: '8'}"), credentials)
    assert options["sfURL"] == "xy12345.eu-west-1.snowflakecomputing.com:443"
    assert options["sfSSL"] == "on" and options["sfRole"] == "ETL_ROLE"
    assert options["sfAccount"] == "xy12345" and options["parallelism"] == "8"
    assert options["autopushdown"] == "on" and options["sfTimezone"] == "UTC"
    assert base64.b64decode(options["pem_private_key"]) == der(key) and "sfPassword" not in options
    shown = redacted(options)
    assert shown["pem_private_key"] == "**********" and shown["sfUser"] == "ETL_SERVICE"
    args = python_connect_args(settings(), credentials)
    assert args["private_key"] == der(key) and args["paramstyle"] == "qmark" and "host" not in args


def test_a_custom_url_sets_host_port_and_protocol():
    custom = settings("url: 'http://127.0.0.1:8123'", "auth: password")
    credentials = resolve_credentials(custom, environ={"SNOWFLAKE_PASSWORD": "pw"})
    assert connector_options(custom, credentials)["sfURL"] == "127.0.0.1:8123"
    assert connector_options(custom, credentials)["sfSSL"] == "off"
    args = python_connect_args(custom, credentials)
    assert (args["host"], args["port"], args["protocol"]) == ("127.0.0.1", 8123, "http")
    assert args["password"] == "pw"


@pytest.mark.parametrize("override, message", [
    ("warehouse.kind=snowflake", "warehouse.kind is snowflake but there is no snowflake: section"),
    (SNOWFLAKE.replace("RETAIL", "'RETAIL; DROP'") + "}",
     "snowflake.database .*not a plain identifier"),
    (SNOWFLAKE + ", options: {sfPassword: hunter2}}", "secrets never go in conf"),
    (SNOWFLAKE.replace("xy12345.eu-west-1", "'evil/acct'") + "}",
     "snowflake.account .*not an account"),
    ("tables.fact_sales=CURATED.FACT;DROP",
     "'fact_sales' = 'CURATED.FACT;DROP' is not SCHEMA.NAME"),
])
def test_bad_snowflake_conf_is_refused_with_the_key_to_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", [override])
