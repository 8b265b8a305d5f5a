"""Test helper: Spark SQL settings changed for the length of a block."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def sql_conf(spark, **values):
    """Set ``values`` on ``spark.conf`` inside the block; restore the old values after it."""
    old = {k: spark.conf.get(k) for k in values}
    for k, v in values.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            spark.conf.set(k, v)
