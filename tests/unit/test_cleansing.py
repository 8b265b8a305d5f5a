import re
from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, StringType, StructField, StructType, TimestampType

from etl_lib.cleansing import (
    decimal_pattern, normalize_text, parse_decimal, parse_int, parse_timestamp, trim_strings,
)


def test_parse_timestamp_accepts_every_contract_format_and_nothing_else(spark):
    texts = [
        ("2024-01-15T10:22:03",), ("2024-01-15 10:22:03",), ("2024-01-15T10:22:03Z",),
        ("2024-01-15T12:22:03+02:00",), ("2024-01-15 07:22:03-03:00",),
        (" 2024-01-15 10:22:03.5 ",), ("2024-01-15T10:22",), ("2024-01-15T12:22+02:00",),
        ("not-a-date",), ("2024-13-45 99:00:00",), ("2024-02-30 10:00:00",), ("2024-01-15",),
        ("2024-01-15T10",), ("2024-01-15 10:22",), ("2024-01-15T10:22:03.1234567",),
        ("2024-01-15T10:22:03+0200",), ("2024-01-15T10:22:03 UTC",), (None,),
        ("2024-01-15T10:22:03\n",),  # a Java regex's $ would match before a final line break
    ]
    df = spark.createDataFrame(texts, "raw string").select(parse_timestamp(F.col("raw")).alias("ts"))
    expected = [datetime(2024, 1, 15, 10, 22, 3)] * 5 + [
        datetime(2024, 1, 15, 10, 22, 3, 500000), datetime(2024, 1, 15, 10, 22),
        datetime(2024, 1, 15, 10, 22)]
    assert [r.ts for r in df.collect()] == expected + [None] * 11


def test_parse_int_and_decimal_refuse_what_is_not_a_number(spark):
    df = spark.createDataFrame(
        [("3", "12.50"), ("-2", "-0.5"), ("1.5", "abc"), ("", "1e3"), (" 7 ", " 4 "),
         ("5\n", "5.5\n")],  # a Java regex's $ would match before the final line break
        "i string, d string",
    )
    out = df.select(parse_int(F.col("i")).alias("i"), parse_decimal(F.col("d")).alias("d"))
    expected = spark.createDataFrame(
        [(3, Decimal("12.50")), (-2, Decimal("-0.50")), (None, None), (None, None), (7, Decimal("4.00")),
         (None, None)],
        StructType([StructField("i", IntegerType()), StructField("d", DecimalType(12, 2))]),
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_parse_decimal_refuses_digits_it_would_round_away(spark):
    texts = ["19.99", "19.990", "19.999", "19.995", "5.", ".5", ".505", ".", "-0.50",
             "1234567890.12", "12345678901.00"]  # 11 whole digits: too many at scale 2
    df = spark.createDataFrame([(t,) for t in texts], "d string")
    two = [r.d for r in df.select(parse_decimal(F.col("d")).alias("d")).collect()]
    assert two == [Decimal("19.99"), Decimal("19.99"), None, None, Decimal("5.00"),
                   Decimal("0.50"), None, None, Decimal("-0.50"), Decimal("1234567890.12"), None]
    whole = [r.d for r in df.select(parse_decimal(F.col("d"), 12, 0).alias("d")).collect()]
    assert whole == [None, None, None, None, Decimal("5"), None, None, None, None, None,
                     Decimal("12345678901")]


@pytest.mark.parametrize("scale", [0, 1, 2, 4])
def test_decimal_pattern_accepts_exactly_the_values_a_cast_keeps_unrounded(scale):
    pattern = re.compile(decimal_pattern(scale).replace(r"\z", r"\Z"))
    for text in ["0", "7", "-7", "+7", "7.", ".0", "7.0", "7.5", "7.25", "7.125", "7.1250",
                 "7.00001", ".", "", "-", "1e3", "7.5.", " 7", "7,5"]:
        body = text.lstrip("+-")
        number = body not in ("", ".") and set(body) <= set("0123456789.") and body.count(".") <= 1
        exact = number and Decimal(body) == round(Decimal(body), scale)
        assert bool(pattern.match(text)) == exact, (scale, text)


def test_parse_int_refuses_values_out_of_int_range_instead_of_wrapping(spark):
    texts = ["2147483647", "-2147483648", "2147483648", "-2147483649", "4294967297",
             "99999999999999999999"]
    df = spark.createDataFrame([(t,) for t in texts], "i string")
    assert [r.i for r in df.select(parse_int(F.col("i")).alias("i")).collect()] == [
        2147483647, -2147483648, None, None, None, None]


def test_trim_strings_turns_blanks_into_nulls_and_normalize_text_cases(spark):
    df = spark.createDataFrame([("  a ", "CARD "), ("   ", " Credit   Card"), (None, "")], "x string, pm string")
    out = trim_strings(df, ["x"]).withColumn("pm", normalize_text(F.col("pm")))
    expected = spark.createDataFrame([("a", "card"), (None, "credit card"), (None, None)], "x string, pm string")
    assert_df_equality(out, expected, ignore_nullable=True)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet="ab \t\n\x0b\f\r\x1c\u00a0", max_size=8), min_size=300, max_size=300))
def test_normalize_text_collapses_whitespace_exactly_as_the_regex_does(spark, texts):
    # normalize_text skips the regex when no whitespace run needs collapsing; the regex
    # on every value is the definition it must equal.
    df = spark.createDataFrame([(t,) for t in texts], "t string")
    by_regex = df.select("t", F.lower(F.regexp_replace(F.trim("t"), r"\s+", " ")).alias("n"))
    by_function = df.select("t", F.coalesce(normalize_text(F.col("t")), F.lit("")).alias("n"))
    assert by_regex.exceptAll(by_function).union(by_function.exceptAll(by_regex)).collect() == []
