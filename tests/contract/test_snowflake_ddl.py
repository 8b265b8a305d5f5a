"""deploy/snowflake: applied twice on fakesnow where it can run it, the rest checked as text.

fakesnow cannot run masking policies, external tables or Python UDFs (docs/snowflake.md
lists them); those statements are skipped on the emulator and their text and structure
are checked here instead: they refer to objects the DDL creates, with the columns the
jobs write.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from pathlib import Path

import pytest

from scripts.apply_snowflake_ddl import (
    DdlError,
    apply,
    check_variables,
    ddl_files,
    load_statements,
    main,
    split_statements,
)
from tests.contract.emulator import DATABASE, table_names

pytestmark = pytest.mark.snowflake

DOCS = Path(__file__).resolve().parents[2] / "docs" / "snowflake.md"
VARIABLES = {"DATABASE": DATABASE, "LAKE_URL": "s3://lake/warehouse/processed/",
             "STORAGE_INTEGRATION": "LAKE_S3", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/sf"}
#: Statement kinds fakesnow 0.12.1 cannot run (the function is provisioned by the emulator).
FAKESNOW_GAPS = ("CREATE MASKING POLICY", "ALTER MASKING POLICY", "ALTER TABLE SET MASKING POLICY",
                 "CREATE EXTERNAL TABLE", "CREATE FUNCTION")


def statements(account=False):
    return load_statements(ddl_files(account=account), VARIABLES)


def created_tables(kind="CREATE TABLE"):
    """{(SCHEMA, NAME): column names} of the tables the DDL creates."""
    tables = {}
    for statement in statements():
        if statement.kind == kind:
            match = re.search(rf"{DATABASE}\.(\w+)\.(\w+)\s*\((.*)\)", statement.sql, re.S)
            types = "VARCHAR|NUMBER|DATE|TIMESTAMP_NTZ|BOOLEAN|FLOAT|VARIANT"
            columns = re.findall(rf"(?:^|,)\s*(\w+)\s+(?:{types})\b", match.group(3), re.M)
            tables[(match.group(1), match.group(2))] = columns
    return tables


def test_ddl_applies_on_fakesnow_and_again_without_change(fakesnow_connect):
    with contextlib.closing(fakesnow_connect()) as connection:
        skipped = apply(connection.cursor(), statements(), FAKESNOW_GAPS)
        before = {schema: table_names(fakesnow_connect, schema)
                  for schema in ("STAGING", "CURATED", "ANALYTICS", "METADATA")}
        again = apply(connection.cursor(), statements(), FAKESNOW_GAPS)

    assert {s.kind for s in skipped} == set(FAKESNOW_GAPS) and len(again) == len(skipped)
    expected = {}
    for schema, name in created_tables():
        expected.setdefault(schema, []).append(name)
    for schema, names in before.items():
        assert names == sorted(expected[schema]), schema
        assert table_names(fakesnow_connect, schema) == names


def test_every_statement_is_safe_to_repeat():
    for statement in statements(account=True):
        sql = " ".join(statement.sql.split()).upper()
        if sql.startswith("CREATE"):
            assert "IF NOT EXISTS" in sql or "OR REPLACE" in sql, statement.sql[:80]
        elif statement.kind == "INSERT":
            assert "WHERE NOT EXISTS" in sql
        elif statement.kind == "ALTER TABLE SET MASKING POLICY":
            assert sql.endswith(" FORCE"), statement.sql
        else:
            assert statement.kind in ("GRANT", "ALTER MASKING POLICY"), statement.kind


def test_the_fakesnow_gaps_are_the_documented_ones():
    text = DOCS.read_text(encoding="utf-8")
    for kind in FAKESNOW_GAPS:
        assert f"`{kind}`" in text, f"docs/snowflake.md does not list {kind}"


def test_masking_policy_covers_the_pii_columns_and_the_sensitive_view():
    tables = created_tables()
    policies = {re.search(r"POLICY\s+(?:IF NOT EXISTS\s+)?([\w.]+)", s.sql).group(1)
                for s in statements() if s.kind == "CREATE MASKING POLICY"}
    masked = set()
    for statement in statements():
        if statement.kind == "ALTER TABLE SET MASKING POLICY":
            schema, table, column, policy = re.search(
                rf"ALTER TABLE {DATABASE}\.(\w+)\.(\w+) MODIFY COLUMN (\w+) "
                r"SET MASKING POLICY ([\w.]+) FORCE",
                statement.sql).groups()
            assert column in tables[(schema, table)] and policy in policies
            masked.add((table, column))
    pii = {(table, column) for statement in statements() if statement.kind == "CREATE TABLE"
           for table in [re.search(r"\.(\w+)\s*\(", statement.sql).group(1)]
           for column in re.findall(r"^\s*(\w+) VARCHAR COMMENT 'PII", statement.sql, re.M)}
    assert pii and masked == pii
    body = next(s.sql for s in statements() if "VW_CUSTOMER_SENSITIVE" in s.sql)
    assert "SECURE VIEW" in body and f"FROM {DATABASE}.CURATED.DIM_CUSTOMER" in body
    assert all(column in body for _, column in pii)
    policy = next(s.sql for s in statements() if s.kind == "CREATE MASKING POLICY")
    assert "IS_ROLE_IN_SESSION('PII_READER')" in policy and "RETURNS STRING" in policy


def test_external_tables_read_what_reviews_flatten_writes():
    from jobs.reviews_flatten import (
        IMAGE_COLUMNS,
        IMAGES_DATASET,
        PARTITION,
        REVIEW_COLUMNS,
        REVIEWS_DATASET,
    )

    external = {s.sql.split("(")[0].split(".")[-1].strip(): s.sql
                for s in statements() if s.kind == "CREATE EXTERNAL TABLE"}
    for name, dataset, columns in (("EXT_REVIEWS", REVIEWS_DATASET, REVIEW_COLUMNS),
                                   ("EXT_REVIEW_IMAGES", IMAGES_DATASET, IMAGE_COLUMNS)):
        sql = external[name]
        assert f"LOCATION = @{DATABASE}.LANDING.PROCESSED_STAGE/{dataset}/" in sql
        assert f"PARTITION BY ({PARTITION.upper()})" in sql
        from_values = re.findall(r"^\s*(\w+) [\w(),]+ AS \(VALUE:(\w+)::", sql, re.M)
        assert all(column.lower() == field for column, field in from_values)
        from_path = (f"{PARTITION.upper()} DATE AS TO_DATE(SPLIT_PART("
                     f"SPLIT_PART(METADATA$FILENAME, '{PARTITION}='")
        assert from_path in sql
        partition_last = sorted(columns, key=lambda c: c == PARTITION)
        assert [f for _, f in from_values] + [PARTITION] == partition_last
    stage = next(s.sql for s in statements()
                 if "PROCESSED_STAGE" in s.sql and s.kind == "CREATE STAGE")
    assert "URL = 's3://lake/warehouse/processed/'" in stage
    assert "STORAGE_INTEGRATION = LAKE_S3" in stage


def test_secure_view_shows_each_role_only_its_regions(fakesnow_connect):
    """fakesnow's CURRENT_ROLE() is always 'duckdb': map that role and watch the rows change."""
    with contextlib.closing(fakesnow_connect()) as connection:
        cursor = connection.cursor()
        apply(cursor, statements(), FAKESNOW_GAPS)
        cursor.execute(f"INSERT INTO {DATABASE}.CURATED.DIM_STORE (STORE_KEY, STORE_ID, REGION) "
                       "VALUES (1, 'S1', 'East'), (2, 'S2', 'West')")
        cursor.execute(f"INSERT INTO {DATABASE}.CURATED.FACT_SALES (TRANSACTION_ID, LINE_NUMBER, "
                       "STORE_KEY, SALE_DATE) VALUES ('T1', 1, 1, ?), ('T2', 1, 2, ?)",
                       (date(2024, 1, 15), date(2024, 1, 15)))

        def visible():
            view = f"{DATABASE}.ANALYTICS.VW_SALES_BY_REGION"
            cursor.execute(f"SELECT TRANSACTION_ID, REGION FROM {view}")
            return sorted(cursor.fetchall())

        assert visible() == []  # a role with no mapping sees nothing
        cursor.execute(f"INSERT INTO {DATABASE}.CURATED.REGION_ACCESS VALUES ('duckdb', 'East')")
        assert visible() == [("T1", "East")]
        cursor.execute(f"INSERT INTO {DATABASE}.CURATED.REGION_ACCESS VALUES ('duckdb', '*')")
        assert visible() == [("T1", "East"), ("T2", "West")]


def test_splitting_respects_quotes_bodies_and_comments():
    text = ("-- a; comment\nCREATE X AS $$ a; b $$;\nINSERT INTO t VALUES ('x;y', 'it''s');"
            ' SELECT "a;b" FROM t')
    assert split_statements(text) == [
        "CREATE X AS $$ a; b $$", "INSERT INTO t VALUES ('x;y', 'it''s')", 'SELECT "a;b" FROM t',
    ]


def test_variables_are_checked_before_they_reach_the_sql(capsys):
    with pytest.raises(DdlError, match="DATABASE"):
        check_variables({"DATABASE": "RETAIL; DROP DATABASE PROD"})
    with pytest.raises(DdlError, match="unknown"):
        check_variables({"NOPE": "x"})
    assert main(["--dry-run", "--var", "DATABASE=RETAIL"]) == 2  # LAKE_URL, ... not given
    assert "set LAKE_URL, STORAGE_INTEGRATION with --var" in capsys.readouterr().err
    args = [f"--var={k}={v}" for k, v in VARIABLES.items()]
    assert main(["--dry-run", *args]) == 0
    printed = capsys.readouterr().out
    assert f"CREATE TABLE IF NOT EXISTS {DATABASE}.CURATED.FACT_SALES" in printed
    assert "{{" not in printed and "CREATE WAREHOUSE" not in printed  # account DDL needs --account
