"""The Snowflake SQL generators: identifiers checked, values bound, same semantics as Delta.

Pure string generation: no Spark session, no Snowflake (the statements run on fakesnow in
tests/contract).
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import types as T

from etl_lib.changes import ChangeSpec
from etl_lib.io import snowflake_sql as sql
from etl_lib.io.snowflake_scd import ChangeSql, ChangeTables, target_schema
from etl_lib.io.snowflake_session import Result
from etl_lib.io.snowflake_sql import IdentifierError, Statement, Table
from etl_lib.io.warehouse import newer_or_equal_condition
from etl_lib.scd import resolve_layout

TARGET = Table("RETAIL", "CURATED", "FACT_SALES")
STAGING = Table("RETAIL", "CURATED", "FACT_SALES__STG_1")
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@pytest.mark.parametrize("bad", ["sale date", "x;drop", "1st", "a-b", "\"q\"", "", "é"])
def test_identifiers_that_are_not_plain_are_refused_with_the_name(bad):
    with pytest.raises(IdentifierError, match="not a plain identifier"):
        sql.quote(bad)
    with pytest.raises(IdentifierError):
        Table("RETAIL", "CURATED", bad)


def test_names_are_quoted_upper_case_so_reserved_words_are_safe():
    assert sql.quote("date") == '"DATE"'
    assert Table.parse("analytics.daily_sales_summary", "retail").sql == (
        '"RETAIL"."ANALYTICS"."DAILY_SALES_SUMMARY"')
    with pytest.raises(IdentifierError, match="SCHEMA.NAME"):
        Table.parse("a.b.c", "RETAIL")


def test_spark_types_map_to_snowflake_types():
    schema = T.StructType([
        T.StructField("i", T.IntegerType()), T.StructField("d", T.DecimalType(12, 2)),
        T.StructField("f", T.DoubleType()), T.StructField("s", T.StringType()),
        T.StructField("b", T.BooleanType()), T.StructField("day", T.DateType()),
        T.StructField("ts", T.TimestampType()), T.StructField("tags", T.ArrayType(T.StringType())),
        T.StructField("m", T.MapType(T.StringType(), T.LongType())),
    ])
    assert sql.columns_of(schema) == [
        ("I", "NUMBER(38,0)"), ("D", "NUMBER(12,2)"), ("F", "FLOAT"), ("S", "VARCHAR"),
        ("B", "BOOLEAN"), ("DAY", "DATE"), ("TS", "TIMESTAMP_NTZ"), ("TAGS", "VARIANT"),
        ("M", "VARIANT"),
    ]
    with pytest.raises(TypeError, match="no Snowflake type"):
        sql.snowflake_type(T.NullType())


def test_partition_values_are_bound_never_interpolated():
    hostile = "x'); DROP TABLE RETAIL.CURATED.FACT_SALES; --"
    statement = sql.delete_where_in(TARGET, "sale_date", [date(2024, 1, 15), hostile])
    assert statement.sql == (
        'DELETE FROM "RETAIL"."CURATED"."FACT_SALES" WHERE "SALE_DATE" IN (?, ?)')
    assert statement.params == (date(2024, 1, 15), hostile)
    outside = sql.count_outside(STAGING, "sale_date", [hostile])
    assert hostile not in outside.sql and outside.params == (hostile,)
    with pytest.raises(ValueError, match="at least one value"):
        sql.delete_where_in(TARGET, "sale_date", [])


def test_merge_uses_a_subquery_source_null_safe_keys_and_the_newer_condition():
    statement = sql.merge_upsert(TARGET, STAGING, ["TRANSACTION_ID", "LINE_NUMBER", "TS", "V"],
                                 ["transaction_id", "line_number"], ["ts"])
    assert statement.params == ()
    assert 'USING (SELECT "TRANSACTION_ID", "LINE_NUMBER", "TS", "V" FROM ' in statement.sql
    assert ('ON t."TRANSACTION_ID" IS NOT DISTINCT FROM s."TRANSACTION_ID" AND '
            't."LINE_NUMBER" IS NOT DISTINCT FROM s."LINE_NUMBER"') in statement.sql
    assert 'WHEN MATCHED AND ((s."TS" >= t."TS")) THEN UPDATE SET t."TS" = s."TS", t."V" = s."V" ' \
        in statement.sql
    with pytest.raises(IdentifierError, match="not columns of the batch"):
        sql.merge_upsert(TARGET, STAGING, ["V"], ["k"])


@settings(max_examples=40, deadline=None)
@given(st.lists(identifiers, min_size=1, max_size=4, unique=True))
def test_newer_condition_is_the_delta_adapters_condition(columns):
    """Same clauses, same order: only the quoting differs (Snowflake "X", Spark `x`)."""
    upper = [c.upper() for c in columns]
    assert sql.newer_or_equal(columns).replace('"', "`") == newer_or_equal_condition(upper)


def test_dml_results_are_read_by_column_name():
    merge = Result(("number of rows inserted", "number of rows updated"), [(2, 5)])
    assert merge.dml_counts() == {"inserted": 2, "updated": 5}
    assert Result(("count_star()",), [(3,)]).dml_counts() == {} and Result((), []).scalar() is None


TYPES = {"string": T.StringType(), "int": T.IntegerType(), "long": T.LongType(),
         "timestamp": T.TimestampType()}


def struct(text):
    """``"k string, n int"`` as a StructType (no Spark session needed)."""
    return T.StructType([T.StructField(name, TYPES[kind])
                         for name, kind in (field.split() for field in text.split(","))])


def change_sql(spec, schema):
    layout = resolve_layout(spec, struct(schema))
    tables = ChangeTables(*(Table("RETAIL", "CURATED", n) for n in ("B", "T", "G", "E", "W", "GW")))
    return ChangeSql(layout, tables, struct(schema)), layout


def test_scd2_surrogate_key_text_matches_the_delta_formula():
    statements, layout = change_sql(
        ChangeSpec(keys=("k", "n"), sequence_by="ts", stored_as_scd_type=2, surrogate_key="sk"),
        "k string, n int, ts timestamp, v string")
    text = statements.insert_rows(False, "RETAIL.CURATED.SCD_VERSION_KEY").sql
    expected = ('RETAIL.CURATED.SCD_VERSION_KEY(TO_VARCHAR("K") || CHR(31) || TO_VARCHAR("N") || '
                'CHR(31) || TO_VARCHAR("VALID_FROM", \'YYYY-MM-DD"T"HH24:MI:SS.FF6\'))')
    assert f"IFF({expected} = -1, -2, {expected}) AS \"SK\"" in text
    columns = target_schema(layout, struct("k string, n int, ts timestamp, v string"))
    assert [f.name for f in columns] == [
        "sk", "k", "n", "ts", "v", "valid_from", "valid_to", "is_current", "_sequence"]


def test_apply_changes_sql_has_no_values_and_only_quoted_names():
    statements, _ = change_sql(
        ChangeSpec(keys=("id",), sequence_by="seq", apply_as_deletes="op = 'D' OR 1=1",
                   except_column_list=("op", "seq"), stored_as_scd_type=2,
                   ignore_null_updates=True),
        "id int, name string, op string, seq long")
    generated = [statements.insert_events(), statements.insert_rows(True),
                 statements.insert_graves(), statements.counts(),
                 statements.delete_touched(Table("RETAIL", "CURATED", "T")), statements.null_keys()]
    for statement in generated:
        assert isinstance(statement, Statement) and statement.params == ()
        assert "op = 'D'" not in statement.sql and "1=1" not in statement.sql  # Spark evaluates it
        assert not re.search(r"\bname\b|\bid\b", statement.sql)  # columns only as "NAME", "ID"
    assert "LAST_VALUE(CASE WHEN" in generated[1].sql and "IGNORE NULLS" in generated[1].sql


def test_value_kinds_group_the_types_a_load_may_convert_between():
    numbers = ("NUMBER", "NUMBER(12,2)", "FLOAT", "DECIMAL(38, 0)")
    assert {sql.value_kind(t) for t in numbers} == {"number"}
    assert sql.value_kind("VARCHAR") == sql.value_kind("TEXT") == "text"
    assert sql.value_kind("TIMESTAMP_TZ") == sql.value_kind("timestamp_ntz") == "timestamp"
    assert sql.value_kind("GEOGRAPHY") == "geography"  # unknown types: a kind of their own
    spark_types = [T.ByteType(), T.IntegerType(), T.LongType(), T.DecimalType(12, 2),
                   T.DoubleType(), T.StringType(), T.BooleanType(), T.DateType(),
                   T.TimestampType(), T.TimestampNTZType(), T.BinaryType(),
                   T.ArrayType(T.StringType()), T.MapType(T.StringType(), T.LongType())]
    kinds = {sql.value_kind(sql.snowflake_type(t)) for t in spark_types}
    assert kinds == {"number", "text", "boolean", "date", "timestamp", "binary", "semi-structured"}
