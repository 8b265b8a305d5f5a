"""run_job: exit codes, the one-line failure message, and RUN_LOG rows for every outcome."""

from datetime import date

from pyspark import StorageLevel

from etl_lib.config import load_config
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.warehouse import WriteResult
from etl_lib.job import JobArgs, RunStats, create_context, run_job


def test_success_records_a_run_log_row(spark, tmp_path):
    def run(ctx):
        stats = RunStats(rows_in=3)
        stats.wrote(WriteResult("S.T", rows_inserted=2))
        return stats

    argv = ["--run-date", "2024-01-15", "--conf", f"warehouse.root={tmp_path}", "--run-id", "ok-1"]
    assert run_job("ok_job", run, argv) == 0
    row = DeltaWarehouse(spark, str(tmp_path)).read("METADATA.RUN_LOG").first()
    assert (row.job, row.run_id, row.status, row.rows_in, row.rows_out, row.tables) == (
        "ok_job", "ok-1", "SUCCEEDED", 3, 2, {"S.T": 2})


def test_failure_exits_1_with_one_clear_line_and_a_failed_row(spark, tmp_path, capsys):
    def run(ctx):
        raise ValueError("landing file is empty")

    argv = ["--run-date", "2024-01-15", "--conf", f"warehouse.root={tmp_path}", "--run-id", "bad-1"]
    assert run_job("boom", run, argv) == 1
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line == "ERROR boom failed for 2024-01-15: ValueError: landing file is empty (run_id=bad-1)"
    row = DeltaWarehouse(spark, str(tmp_path)).read("METADATA.RUN_LOG").first()
    assert (row.status, row.error) == ("FAILED", "ValueError: landing file is empty")


def test_jvm_errors_are_reported_by_their_java_message(spark, tmp_path, capsys):
    def run(ctx):
        ctx.spark.read.parquet(str(tmp_path / "missing")).count()

    argv = ["--run-date", "2024-01-15", "--conf", f"warehouse.root={tmp_path}"]
    assert run_job("jvm", run, argv) == 1
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "PATH_NOT_FOUND" in last_line and "Py4J" not in last_line


def test_bad_configuration_exits_2_before_spark_work(tmp_path, capsys):
    calls = []
    argv = ["--run-date", "2024-01-15", "--conf", "warehouse.kind=oracle"]
    assert run_job("cfg", calls.append, argv) == 2
    assert calls == []
    assert "conf error: warehouse.kind (--conf):" in capsys.readouterr().err


def test_a_jobs_quality_metrics_are_one_write_and_kept_when_the_job_fails(spark, tmp_path):
    def run(ctx, fail=False):
        ids = ctx.spark.createDataFrame([(1,)], "id int")
        ctx.quality_gate(t_a=ids)
        ctx.quality_gate(t_b=ids)
        if fail:
            raise ValueError("after the gates")
        return RunStats()

    rules = "{rules: [{check: not_null, columns: [id], severity: fail}]}"
    argv = ["--run-date", "2024-01-15", "--conf", f"warehouse.root={tmp_path}",
            "--conf", "tables.t_a=STAGING.T_A", "--conf", "tables.t_b=STAGING.T_B",
            "--conf", f"quality.tables={{t_a: {rules}, t_b: {rules}}}"]
    assert run_job("gated", run, [*argv, "--run-id", "ok"]) == 0
    assert run_job("gated", lambda ctx: run(ctx, fail=True), [*argv, "--run-id", "bad"]) == 1
    warehouse = DeltaWarehouse(spark, str(tmp_path))
    rows = warehouse.read("METADATA.QUALITY_METRICS").select("run_id", "table").collect()
    assert sorted(map(tuple, rows)) == [("bad", "STAGING.T_A"), ("bad", "STAGING.T_B"),
                                        ("ok", "STAGING.T_A"), ("ok", "STAGING.T_B")]
    history = warehouse.delta_table("METADATA.QUALITY_METRICS").history()
    assert history.count() == 2  # one write per job


def test_cache_keeps_reused_frames_at_the_conf_storage_level(spark, test_config):
    assert test_config.spark.cache_level == "DISK_ONLY"  # conf/local.yaml
    for level in ("DISK_ONLY", "MEMORY_AND_DISK"):
        config = test_config.model_copy(
            update={"spark": test_config.spark.model_copy(update={"cache_level": level})})
        ctx = create_context("cache_job", JobArgs("local", date(2024, 1, 15), (), "c-1"), config, spark)
        frame = ctx.cache(spark.range(3))
        try:
            assert frame.storageLevel == getattr(StorageLevel, level)
            assert frame.count() == 3
        finally:
            frame.unpersist()
    assert load_config("emr").spark.cache_level == "MEMORY_AND_DISK"
