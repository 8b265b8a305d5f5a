"""Data quality: conf-declared rules per table, run at every layer hop, recorded per check.

Modules, one concern each:
    rules       the ``quality:`` conf section as typed rules (validated at start-up)
    gx_runner   row-level rules as a Great Expectations 1.x suite on the Spark frame
    checks      the checks GX lacks: freshness, volume, relationships, reconciliation,
                continuity, outliers, landing balance (Spark built-ins)
    history     earlier runs' row counts from QUALITY_METRICS and RUN_LOG
    metrics     the METADATA.QUALITY_METRICS table
    gate        runs a table's rules, records them, raises QualityGateFailed on ``fail``

Jobs call the gate through ``JobContext.quality_gate(**frames)`` and
``JobContext.reconcile_landing(table, landing)``. Importing this package imports only the
conf models (``etl_lib.config`` depends on them); the rest loads when a gate runs.
"""

from etl_lib.quality.outcome import CheckOutcome
from etl_lib.quality.rules import QualitySettings, TableRules

__all__ = ["CheckOutcome", "QualitySettings", "TableRules"]
