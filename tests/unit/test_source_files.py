"""SourceFiles: a small code per landing line instead of its file path, and back, exactly."""

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl_lib.io.files import SOURCE_FILE, SourceFiles, glob_files, read_csv

SCHEMA = StructType([StructField("a", StringType()), StructField("b", StringType())])
# Names a URI spells differently from a path: space, percent, hash, non-ASCII.
AWKWARD = ("f 1%.csv", "g#ü.csv", "h%20.csv", "plain.csv")


@pytest.fixture
def awkward_read(spark, tmp_path):
    folder = tmp_path / "dir with space" / "ü%20#x"
    folder.mkdir(parents=True)
    for n, name in enumerate(AWKWARD):
        (folder / name).write_text(f"a,b\n{n},{name}\n")
    return read_csv(spark, glob_files(spark, [f"{tmp_path}/dir with space/*/*.csv"]), SCHEMA)


def test_paths_are_spelled_as_the_scan_spells_source_file(awkward_read):
    files = SourceFiles.of(awkward_read)
    scanned = sorted(r[0] for r in awkward_read.select(SOURCE_FILE).distinct().collect())
    assert list(files.paths) == scanned and len(scanned) == len(AWKWARD)


def test_code_orders_as_the_paths_and_path_gives_the_exact_text_back(awkward_read):
    files = SourceFiles.of(awkward_read)
    coded = awkward_read.select(SOURCE_FILE, files.code(F.col(SOURCE_FILE)).alias("code"))
    rows = coded.select(SOURCE_FILE, "code", files.path(F.col("code")).alias("back")).collect()
    assert all(r.back == r[SOURCE_FILE] for r in rows)
    assert [r.code for r in sorted(rows, key=lambda r: r[SOURCE_FILE])] == list(range(len(AWKWARD)))
    assert coded.schema["code"].dataType.simpleString() == "int"


def test_null_stays_null_and_an_unknown_path_fails_rather_than_naming_another_file(spark):
    files = SourceFiles.from_paths(["file:/b.csv", "file:/a.csv", "file:/a.csv"])
    assert files.paths == ("file:/a.csv", "file:/b.csv")
    frame = spark.createDataFrame([("file:/b.csv",), (None,)], "p string")
    got = frame.select(files.code(F.col("p")).alias("c")).collect()
    assert [r.c for r in got] == [1, None]
    with pytest.raises(Exception, match="not one of the 2 files of this read: file:/c.csv"):
        unknown = spark.createDataFrame([("file:/c.csv",)], "p string")
        unknown.select(files.code(F.col("p"))).collect()


def test_paths_must_be_sorted_and_distinct():
    with pytest.raises(ValueError, match="sorted and distinct"):
        SourceFiles(("file:/b.csv", "file:/a.csv"))


def test_a_read_of_many_files_keeps_its_paths(spark):
    many = [f"file:/landing/sales_{n:04d}.csv" for n in range(SourceFiles.MAX_CODED_FILES + 1)]
    files = SourceFiles.from_paths(many)
    frame = spark.createDataFrame([(many[-1],), (None,)], "p string")
    code = files.code(F.col("p"))
    got = frame.select(files.path(code).alias("back"), code.alias("c"))
    assert [tuple(r) for r in got.collect()] == [(many[-1], many[-1]), (None, None)]
    assert not files.coded and SourceFiles.from_paths(many[1:]).coded
