"""compact_directory keeps every row, leaves fewer files, and never a half-swapped folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.compaction import (
    CompactionError,
    RetentionTooShortError,
    compact_directories,
    compact_directory,
    optimize_delta,
    recover_directory,
    vacuum_delta,
)


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(("_", ".")))


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def write_json_files(folder: Path, files: int, lines_per_file: int, crlf_every: int = 4) -> Counter:
    """Small JSON Lines files (one malformed line, some CRLF files); returns the lines written."""
    folder.mkdir(parents=True)
    lines: Counter = Counter()
    for f in range(files):
        rows = [f'{{"event_id": "e{f}-{i}", "n": {i}, "nested": {{"x": [1, "two"]}}}}'
                for i in range(lines_per_file)]
        if f == 3:
            rows.append('{"event_id": "broken", "n": ')  # malformed JSON must survive as is
        end = "\r\n" if f % crlf_every == 0 else "\n"
        (folder / f"events_{f:03d}.json").write_text(end.join(rows) + end, encoding="utf-8")
        lines.update(rows)
    return lines


def test_json_folder_becomes_one_file_with_exactly_the_same_lines(spark, tmp_path):
    folder = tmp_path / "clickstream" / "13"
    before = write_json_files(folder, files=25, lines_per_file=8)
    result = compact_directory(spark, str(folder), "json", target_file_mb=1)
    after = data_files(folder)
    assert (result.files_before, result.files_after, result.rows, result.rewritten) == (25, 1, 201, True)
    assert len(after) == 1 and after[0].endswith(".json")
    text = (folder / after[0]).read_text(encoding="utf-8")
    assert Counter(text.splitlines()) == before
    assert siblings(folder) == []  # no staging or replaced folder left behind


def test_parquet_folder_keeps_rows_and_schema_with_fewer_files(spark, tmp_path):
    folder = tmp_path / "reviews"
    df = spark.range(300).select(
        F.col("id").cast("string").alias("review_id"), (F.col("id") % 5 + 1).cast("int").alias("rating"),
        F.array(F.struct(F.lit("u").alias("url"))).alias("images"))
    df.repartition(12).write.parquet(str(folder))
    old_files = data_files(folder)
    before = spark.read.parquet(str(folder)).localCheckpoint()
    assert len(old_files) == 12
    result = compact_directory(spark, str(folder), "parquet", target_file_mb=64)
    assert (result.files_before, result.files_after, result.rows) == (12, 1, 300)
    assert set(data_files(folder)).isdisjoint(old_files)
    assert_df_equality(spark.read.parquet(str(folder)), before, ignore_row_order=True)


def test_a_failed_rewrite_leaves_the_folder_exactly_as_it_was(spark, tmp_path):
    folder = tmp_path / "reviews"
    spark.range(50).repartition(4).write.parquet(str(folder))
    (folder / "part-99999-corrupt.parquet").write_bytes(b"not parquet at all")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(CompactionError, match="folder unchanged"):
        compact_directory(spark, str(folder), "parquet", target_file_mb=64)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert siblings(folder) == []


def test_nothing_is_rewritten_when_it_would_not_reduce_files(spark, tmp_path):
    folder = tmp_path / "one"
    write_json_files(folder, files=1, lines_per_file=3)
    result = compact_directory(spark, str(folder), "json", target_file_mb=1)
    assert (result.rewritten, result.files_after) == (False, 1)
    assert data_files(folder) == ["events_000.json"]


def test_folders_it_must_not_flatten_are_refused(spark, tmp_path):
    nested = tmp_path / "day"
    write_json_files(nested / "13", files=2, lines_per_file=1)
    with pytest.raises(CompactionError, match="sub-folders .*compact_directories"):
        compact_directory(spark, str(nested), "json")
    spark.range(3).write.format("delta").save(str(tmp_path / "table"))
    with pytest.raises(CompactionError, match="Delta table: compact it with optimize_delta"):
        compact_directory(spark, str(tmp_path / "table"), "parquet")


def test_compact_directories_compacts_each_hour_folder_of_a_day(spark, tmp_path):
    day = tmp_path / "clickstream" / "2024" / "01" / "15"
    lines = write_json_files(day / "09", files=6, lines_per_file=2)
    lines += write_json_files(day / "10", files=5, lines_per_file=2)
    results = compact_directories(spark, str(day / "*"), "json", target_file_mb=1)
    assert [(Path(r.target).name, r.files_after) for r in results] == [("09", 1), ("10", 1)]
    read_back = spark.read.text(str(day / "*" / "*.json"))
    assert Counter(r.value for r in read_back.collect()) == lines


def test_recovery_restores_the_old_files_when_a_run_died_between_the_renames(spark, tmp_path):
    folder = tmp_path / "13"
    replaced = tmp_path / ".13.replaced-abc"
    write_json_files(replaced, files=2, lines_per_file=1)
    (tmp_path / ".13.compacting-abc").mkdir()
    recover_directory(spark, str(folder))
    assert data_files(folder) == ["events_000.json", "events_001.json"]
    assert siblings(folder) == []


def test_recovery_keeps_files_that_landed_during_the_swap(spark, tmp_path):
    folder = tmp_path / "13"
    folder.mkdir()
    (folder / "part-00000-compacted.json").write_text('{"a": 1}\n{"a": 2}\n')
    (folder / "_compacted_sources.txt").write_text("events_000.json\nevents_001.json")
    replaced = tmp_path / ".13.replaced-abc"
    write_json_files(replaced, files=3, lines_per_file=1)  # events_002 arrived late
    recover_directory(spark, str(folder))
    assert data_files(folder) == ["events_002.json", "part-00000-compacted.json"]
    assert siblings(folder) == [] and not (folder / "_compacted_sources.txt").exists()


def test_recovery_leaves_alone_a_sibling_whose_name_only_starts_the_same(spark, tmp_path):
    folder = tmp_path / "13"
    write_json_files(folder, files=2, lines_per_file=1)
    other = tmp_path / ".13.5.replaced-abc"  # folder "13.5" died between its renames
    write_json_files(other, files=1, lines_per_file=1)
    recover_directory(spark, str(folder))
    assert data_files(folder) == ["events_000.json", "events_001.json"]
    assert data_files(other) == ["events_000.json"]
    recover_directory(spark, str(tmp_path / "13.5"))
    assert data_files(tmp_path / "13.5") == ["events_000.json"]


def test_optimize_and_vacuum_a_delta_table(spark, tmp_path):
    path = str(tmp_path / "fact")
    rows = spark.range(40).select(
        (F.col("id") % 2).alias("day"), F.col("id"), (F.col("id") * 7 % 13).alias("product_key"))
    for part in range(4):
        rows.filter(F.col("id") % 4 == part).write.format("delta").mode("append").partitionBy(
            "day").save(path)
    result = optimize_delta(spark, path, zorder_by=["product_key"], target_file_mb=16)
    assert (result.files_before, result.files_after) == (8, 2)
    with pytest.raises(RetentionTooShortError, match="under 168h.*force=True"):
        vacuum_delta(spark, path, retention_hours=0)
    assert vacuum_delta(spark, path, retention_hours=0, force=True) == 8
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", "true") == "true"
    assert_df_equality(spark.read.format("delta").load(path).select("day", "id", "product_key"),
                       rows, ignore_row_order=True, ignore_nullable=True)


def compact_job_config(tmp_path, targets: str):
    from etl_lib.config import load_config

    return load_config("local", [
        f"warehouse.root={tmp_path / 'wh'}", f"landing.root={tmp_path / 'landing'}",
        f"jobs.compact.targets={targets}",
    ])


def test_compact_job_compacts_the_run_days_folders_and_optimizes_a_table(spark, tmp_path):
    from datetime import date

    from etl_lib.job import JobArgs, create_context
    from jobs import compact

    day = tmp_path / "landing" / "clickstream" / "2024" / "01" / "15"
    lines = write_json_files(day / "09", files=4, lines_per_file=2)
    write_json_files(tmp_path / "landing" / "clickstream" / "2024" / "01" / "16" / "09", 3, 1)
    config = compact_job_config(tmp_path, (
        '[{path: "{landing_root}/clickstream/{yyyy}/{mm}/{dd}/*", format: json, target_file_mb: 1},'
        ' {table: fact_sales, where: "sale_date = \'{iso}\'", vacuum_retention_hours: 168}]'))
    ctx = create_context("compact", JobArgs("local", date(2024, 1, 15), (), "r1"), config, spark)
    facts = spark.range(6).selectExpr("id", "DATE'2024-01-15' AS sale_date")
    for part in range(3):  # three appends: three small files in the day's partition
        facts.filter(f"id % 3 = {part}").write.format("delta").mode("append").partitionBy(
            "sale_date").save(ctx.warehouse.location("CURATED.FACT_SALES"))
    stats = compact.run(ctx)
    assert (stats.rows_in, len(data_files(day / "09"))) == (sum(lines.values()), 1)
    assert len(data_files(tmp_path / "landing" / "clickstream" / "2024" / "01" / "16" / "09")) == 3
    detail = ctx.warehouse.delta_table("CURATED.FACT_SALES").detail().first()
    assert detail.numFiles == 1
    assert ctx.warehouse.read("CURATED.FACT_SALES").count() == 6


@pytest.mark.parametrize(
    "targets, message",
    [
        ("[{path: /x, table: fact_sales}]", "exactly one of path"),
        ("[{path: /x, format: json, zorder_by: [a]}]", "Delta targets only"),
        ("[{table: fact_sales, vacuum_retention_hours: 1}]", "under 168; set force_retention"),
        ("[{table: fact_sales, format: json}]", "leave format as delta"),
    ],
)
def test_compact_job_conf_errors_say_what_to_fix(tmp_path, targets, message):
    from etl_lib.config import ConfigError
    from jobs import compact

    config = compact_job_config(tmp_path, targets)
    with pytest.raises(ConfigError, match=f"jobs.compact.targets.0: .*{message}"):
        config.job_params("compact", compact.Params)
