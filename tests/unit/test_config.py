from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from etl_lib.config import ConfigError, load_config, parse_override


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


BASE = """
landing: {root: ./data/landing}
warehouse: {root: ./warehouse}
tables: {fact_sales: curated.fact_sales}
spark: {shuffle_partitions: 4}
"""


def test_the_real_conf_files_validate_for_every_environment():
    for env in ("local", "emr", "glue", "dataproc"):
        config = load_config(env)
        assert config.env == env
        assert config.table("fact_sales") == "CURATED.FACT_SALES"


def test_overlay_and_overrides_win_in_order(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "dev.yaml", "spark: {shuffle_partitions: 8}\nwarehouse: {kind: delta}\n")
    config = load_config("dev", ["spark.shuffle_partitions=16", "landing.root=/x"], tmp_path)
    assert config.spark.shuffle_partitions == 16
    assert config.landing.root == "/x"
    assert config.warehouse.root == "./warehouse"  # deep merge keeps siblings


def test_unknown_key_names_key_and_file(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "dev.yaml", "warehouse: {rooot: /tmp}\n")
    with pytest.raises(ConfigError) as err:
        load_config("dev", [], tmp_path)
    assert str(err.value) == f"conf error: warehouse.rooot ({tmp_path / 'dev.yaml'}): unknown key"


def test_wrong_type_from_override_names_the_override(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "dev.yaml", "{}\n")
    with pytest.raises(ConfigError, match=r"^conf error: spark.shuffle_partitions \(--conf\): "):
        load_config("dev", ["spark.shuffle_partitions=many"], tmp_path)


def test_bad_table_name_is_refused(tmp_path):
    write(tmp_path, "base.yaml", BASE.replace("curated.fact_sales", "curated.fact;drop"))
    write(tmp_path, "dev.yaml", "{}\n")
    with pytest.raises(ConfigError, match="tables"):
        load_config("dev", [], tmp_path)


def test_missing_overlay_and_bad_yaml_are_one_line_errors(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config("nope", [], tmp_path)
    write(tmp_path, "bad.yaml", "spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: invalid YAML"):
        load_config("bad", [], tmp_path)


def test_job_params_are_validated_with_the_job_model(tmp_path):
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        windows: list[int] = [7]

    write(tmp_path, "base.yaml", BASE + "jobs: {demo: {windows: [1, x]}}\n")
    write(tmp_path, "dev.yaml", "{}\n")
    config = load_config("dev", [], tmp_path)
    with pytest.raises(ConfigError, match=r"^conf error: jobs.demo.windows.1: "):
        config.job_params("demo", Params)
    assert config.job_params("other", Params).windows == [7]


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=4") == ("a.b", 4)
    assert parse_override("a=true") == ("a", True)
    assert parse_override("a=s3a://x/y") == ("a", "s3a://x/y")
    with pytest.raises(ConfigError):
        parse_override("novalue")
