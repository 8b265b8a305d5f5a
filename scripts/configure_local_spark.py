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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is missing or stale")
    args = parser.parse_args()
    import pyspark

    target = Path(pyspark.__file__).parent / "conf" / "spark-defaults.conf"
    wanted = defaults_text()
    current = target.read_text() if target.exists() else None
    if args.check:
        return 0 if current == wanted else 1
    if current is not None and not current.startswith(MARK):
        print(f"{target} exists and was not written by this script; leaving it", file=sys.stderr)
        return 1
    target.parent.mkdir(exist_ok=True)
    target.write_text(wanted)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
