from datetime import date

import pytest

from etl_lib.job import RunStats, parse_args
from etl_lib.io.warehouse import WriteResult


def test_glue_and_dataproc_arguments_are_tolerated():
    args = parse_args([
        "--JOB_NAME", "sales_enrich", "--env", "glue", "--TempDir", "s3://tmp/",
        "--job-bookmark-option", "job-bookmark-disable", "--run-date", "2024-01-15",
        "--enable-metrics", "true", "--conf", "landing.root=s3a://b/l",
    ])
    assert args.env == "glue"
    assert args.run_date == date(2024, 1, 15)
    assert args.overrides == ("landing.root=s3a://b/l",)
    assert args.ignored == ()


def test_spark_conf_arguments_become_spark_settings():
    args = parse_args(["--run-date", "2024-01-15", "--conf", "spark.sql.shuffle.partitions=8"])
    assert args.overrides == ("spark.conf.spark.sql.shuffle.partitions=8",)


def test_unknown_arguments_are_reported_not_fatal():
    args = parse_args(["--run-date", "2024-01-15", "--mystery", "1"])
    assert args.ignored == ("--mystery", "1")


def test_bad_run_date_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--run-date", "15/01/2024"])
    assert exit_info.value.code == 2
    assert "is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_run_stats_count_by_kind():
    stats = RunStats()
    stats.wrote(WriteResult("A.OUT", rows_inserted=5, rows_updated=2))
    stats.wrote(WriteResult("A.REJ", rows_inserted=3), counts_as="rejected")
    stats.wrote(WriteResult("A.STG", rows_inserted=9), counts_as="other")
    assert (stats.rows_out, stats.rows_rejected) == (7, 3)
    assert stats.tables == {"A.OUT": 7, "A.REJ": 3, "A.STG": 9}
    with pytest.raises(ValueError):
        stats.wrote(WriteResult("A.X"), counts_as="bogus")
