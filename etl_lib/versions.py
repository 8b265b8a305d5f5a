"""The one place JVM artifact versions are pinned (Python pins live in setup.cfg).

Spark resolves these from Maven Central through ``spark.jars.packages``; a run asks only
for what it uses (a local Delta run needs Delta alone).
"""

SPARK_VERSION = "3.5.6"
SCALA_BINARY = "2.12"
HADOOP_VERSION = "3.3.4"  # the Hadoop client bundled with pyspark 3.5.x

DELTA = f"io.delta:delta-spark_{SCALA_BINARY}:3.3.2"
HADOOP_AWS = f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}"
SNOWFLAKE_SPARK = f"net.snowflake:spark-snowflake_{SCALA_BINARY}:3.0.0"
SNOWFLAKE_JDBC = "net.snowflake:snowflake-jdbc:3.24.0"
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.4"

#: Maven coordinates each capability needs, by name (see ``session.required_packages``).
PACKAGES: dict[str, tuple[str, ...]] = {
    "delta": (DELTA,),
    "s3a": (HADOOP_AWS,),
    "snowflake": (SNOWFLAKE_SPARK, SNOWFLAKE_JDBC),
    "postgres": (POSTGRES_JDBC,),
}
