"""Make the pip-installed Spark a "platform" that provides Delta, like EMR/Glue/Dataproc do.

Writes <pyspark>/conf/spark-defaults.conf so that a plain
``spark-submit jobs/sales_enrich.py ...`` gets the Delta jars (fetched by Spark's Ivy from
Maven Central on first use) and the Delta SQL extension. Versions come from
etl_lib/versions.py, the one place they are pinned. Idempotent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from etl_lib import versions  # noqa: E402

MARK = "# written by scripts/configure_local_spark.py"


def defaults_text() -> str:
    lines = [
        MARK,
        f"spark.jars.packages {versions.DELTA}",
        "spark.sql.extensions io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone UTC",
    ]
    return "\n".join(lines) + "\n"


#: Spark's console logging at WARN, so a job's own progress lines stay readable.
LOG4J2 = """# written by scripts/configure_local_spark.py
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.hadoop_native.name = org.apache.hadoop.util.NativeCodeLoader
logger.hadoop_native.level = error
logger.spark_utils.name = org.apache.spark.util.Utils
logger.spark_utils.level = error
"""


def _write_owned(target: Path, wanted: str) -> bool:
    """Write ``wanted`` to ``target`` unless someone else's file is there."""
    current = target.read_text() if target.exists() else None
    if current is not None and not current.startswith(MARK):
        print(f"{target} exists and was not written by this script; leaving it", file=sys.stderr)
        return False
    target.parent.mkdir(exist_ok=True)
    target.write_text(wanted)
    print(f"wrote {target}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is missing or stale")
    args = parser.parse_args()
    import pyspark

    conf_dir = Path(pyspark.__file__).parent / "conf"
    files = {conf_dir / "spark-defaults.conf": defaults_text(), conf_dir / "log4j2.properties": LOG4J2}
    if args.check:
        return 0 if all(p.exists() and p.read_text() == text for p, text in files.items()) else 1
    return 0 if all([_write_owned(path, text) for path, text in files.items()]) else 1


if __name__ == "__main__":
    sys.exit(main())
