"""The quality gate: run a table's conf rules on a frame, record QUALITY_METRICS, stop on ``fail``.

Jobs reach it through :meth:`etl_lib.job.JobContext.quality_gate`, before the write the
gate protects::

    ctx.quality_gate(stg_sales=staged, rejected_sales=rejected)   # then write them

Per table the frame is cached once (unless the caller cached it) and every check reads
the cached copy: row-level rules in one Great Expectations validation, the row count and
freshness maxima in one aggregation, cross-table checks with one query each. All the
tables' rows are merged into QUALITY_METRICS in one write; then, if any ``fail`` check did
not hold, :class:`QualityGateFailed` names them all. A job's gate defers the write
(``defer_metrics``): the rows of all its gate calls go in one MERGE when the job ends
(:func:`etl_lib.job.execute_step` calls :meth:`QualityGate.flush`), or at once when a
check fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl_lib.config import AppConfig, ConfigError
from etl_lib.io.warehouse import Warehouse
from etl_lib.quality import checks, history
from etl_lib.quality.gx_runner import run_row_checks
from etl_lib.quality.metrics import TableOutcomes, metrics_frame, write_metrics
from etl_lib.quality.outcome import STATUSES, CheckOutcome
from etl_lib.quality.rules import ROW_CHECKS, TableRules

__all__ = ["QualityGate", "QualityGateFailed", "QualityRuleError"]


class QualityRuleError(ConfigError):
    """A rule in conf ``quality`` does not fit the table it is declared on."""


class QualityGateFailed(RuntimeError):
    """At least one ``fail`` check did not hold; the tables it guards were not written."""

    def __init__(self, results: Sequence[TableOutcomes]) -> None:
        self.failures: list[tuple[str, CheckOutcome]] = [
            (r.table, o) for r in results for o in r.failures
        ]
        names = ", ".join(f"{table}.{o.check_name}" for table, o in self.failures)
        reasons = "; ".join(f"{o.check_name}: {o.details}" for _, o in self.failures)
        super().__init__(
            f"quality gate failed: {names} ({reasons}). Nothing downstream was written: fix "
            "the data upstream, or the rule under conf quality.tables."
        )

    @property
    def check_names(self) -> list[str]:
        """``SCHEMA.TABLE.check_name`` of every failed ``fail`` check."""
        return [f"{table}.{o.check_name}" for table, o in self.failures]


class QualityGate:
    """Runs conf ``quality`` rules for one run (run id and date) against a warehouse."""

    def __init__(
        self,
        spark: SparkSession,
        warehouse: Warehouse,
        config: AppConfig,
        run_id: str,
        run_date: date,
        log: logging.Logger | None = None,
        defer_metrics: bool = False,
    ) -> None:
        self.spark, self.warehouse, self.config = spark, warehouse, config
        self.defer_metrics = defer_metrics
        self._unwritten: list[TableOutcomes] = []
        self.settings = config.quality
        self.run_id, self.run_date = run_id, run_date
        self.log = log or logging.getLogger("etl.quality")
        for name in sorted(self.settings.referenced_tables()):
            config.table(name)  # a ConfigError naming the unknown logical table

    def run(self, frames: Mapping[str, DataFrame]) -> list[TableOutcomes]:
        """Check each frame (keyed by logical table name), record, raise on a failed ``fail``.

        Raises:
            QualityGateFailed: naming every ``fail`` check that did not hold.
            QualityRuleError: a rule names a column the frame does not have.
        """
        if not self.settings.enabled:
            self.log.warning("quality gates are disabled (conf quality.enabled: false)")
            return []
        results = []
        for name, frame in frames.items():
            rules = self.settings.tables.get(name)
            runnable = [r for r in rules.rules if r.check != "landing_balance"] if rules else []
            if not runnable:
                self.log.info("no quality rules to run on %s (conf quality.tables)", name)
                continue
            results.append(self._check_table(name, rules, runnable, frame))
        self._record(results)
        return results

    def reconcile_landing(self, table: str, landing: DataFrame) -> list[TableOutcomes]:
        """Run ``table``'s ``landing_balance`` checks against the run date's written rows.

        Call it after the staging writes and before anything is built from them.
        """
        rules = self.settings.tables.get(table)
        balances = rules.of_kind("landing_balance") if rules and self.settings.enabled else []
        if not balances:
            return []
        physical = self.config.table(table)
        outcomes = []
        for rule in balances:
            _require_columns(_at(table, rule), "the landing frame", rule.keys, landing.columns)
            on_day = F.col(rule.date_column) == F.lit(self.run_date)
            staged_any_day = self.warehouse.read(physical)
            rejected = self.warehouse.read(self.config.table(rule.rejected)).where(on_day)
            outcomes.append(checks.landing_balance(
                rule, landing, staged_any_day.where(on_day), rejected, staged_any_day
            ))
        results = [TableOutcomes(physical, self._layer(physical, rules), None, outcomes)]
        self._record(results)
        return results

    # ---------------------------------------------------------------- one table

    def _check_table(
        self, name: str, rules: TableRules, runnable: list, df: DataFrame
    ) -> TableOutcomes:
        physical = self.config.table(name)
        for rule in runnable:
            _require_columns(_at(name, rule), physical, rule.frame_columns(), df.columns)
        cached_here = not df.is_cached
        frame = df.cache() if cached_here else df
        try:
            facts = checks.profile(frame, [r.column for r in rules.of_kind("freshness")])
            row_level = [r for r in runnable if r.check in ROW_CHECKS]
            done = {o.check_name: o for o in run_row_checks(physical, row_level, frame)}
            done.update(self._reconciled(name, rules.of_kind("reconcile"), frame))
            outcomes = [
                done.get(rule.check_name) or self._native(name, rule, frame, facts)
                for rule in runnable
            ]
        finally:
            if cached_here:
                frame.unpersist()
        return TableOutcomes(physical, self._layer(physical, rules), facts["rows"], outcomes)

    def _native(self, owner: str, rule, frame: DataFrame, facts: dict) -> CheckOutcome:
        """Evaluate one etl_lib check of table ``owner`` (logical name) on the cached ``frame``."""
        physical = self.config.table(owner)
        kind = rule.check
        if kind == "freshness":
            return checks.freshness(rule, facts[rule.column], self.run_date)
        if kind == "row_count_change":
            metrics = self._read(self.settings.metrics_table)
            previous = None if metrics is None else history.previous_rows_checked(
                metrics, physical, self.run_date)
            return checks.row_count_change(rule, facts["rows"], previous)
        if kind == "volume_anomaly":
            run_log = self._read("run_log")
            past = [] if run_log is None else history.written_rows_history(
                run_log, physical, self.run_date, rule.history_runs)
            return checks.volume_anomaly(rule, facts["rows"], past)
        if kind == "relationships":
            reference = self._reference(owner, rule, [rule.field])
            return checks.relationships(rule, frame, reference)
        if kind == "continuity":
            return checks.continuity(rule, frame, self.warehouse.read_or_none(physical))
        if kind == "outliers":
            return self._outliers(rule, frame)
        raise QualityRuleError(f"conf error: quality: no etl_lib check for kind {kind!r}")

    def _reconciled(self, owner: str, rules: list, frame: DataFrame) -> dict[str, CheckOutcome]:
        """Outcomes of ``reconcile`` rules, one query per (``to``, ``by``) they share."""
        groups: dict[tuple, list] = {}
        for rule in rules:
            groups.setdefault((rule.to, tuple(rule.by.items())), []).append(rule)
        outcomes = {}
        for group in groups.values():
            needs = [*group[0].by.values(), *{r.field for r in group if r.field}]
            reference = self._reference(owner, group[0], needs)
            outcomes.update({o.check_name: o for o in checks.reconcile(group, frame, reference)})
        return outcomes

    def _outliers(self, rule, frame: DataFrame) -> CheckOutcome:
        flagged = checks.flag_outliers(
            frame, rule.column, rule.group_by, rule.method, rule.threshold, rule.min_group_rows,
            log_scale=rule.scale == "log", side=rule.side,
        )
        if rule.keep_columns:
            flagged = flagged.select(*rule.keep_columns, *checks.OUTLIER_COLUMNS)
        kept = self.warehouse.overwrite_partitions(
            flagged.withColumn("run_date", F.lit(self.run_date)), self.config.table(rule.keep_in),
            "run_date", [self.run_date], partition_by=["run_date"],
        )
        return checks.outliers(rule, kept.rows_inserted)

    # ---------------------------------------------------------------- helpers

    def _read(self, logical: str) -> DataFrame | None:
        return self.warehouse.read_or_none(self.config.table(logical))

    def _reference(self, owner: str, rule, needs: Sequence[str]) -> DataFrame | None:
        """Table ``rule.to``, or None if not created yet; it must have the ``needs`` columns."""
        table = self.config.table(rule.to)
        frame = self.warehouse.read_or_none(table)
        if frame is not None:
            _require_columns(_at(owner, rule), table, needs, frame.columns)
        return frame

    def _layer(self, physical: str, rules: TableRules | None) -> str:
        return (rules.layer if rules and rules.layer else physical.split(".")[0]).lower()

    def _record(self, results: list[TableOutcomes]) -> None:
        results = [r for r in results if r.outcomes]
        if not results:
            return
        for result in results:
            counts = {s: sum(o.status == s for o in result.outcomes) for s in STATUSES}
            self.log.info(
                "quality %s (%s): %d checks, %d PASS, %d WARN, %d FAIL", result.table,
                result.layer, len(result.outcomes), counts["PASS"], counts["WARN"], counts["FAIL"],
            )
            for o in result.outcomes:
                if o.status != "PASS":
                    self.log.warning("quality %s %s.%s: %s", o.status, result.table, o.check_name,
                                     o.details)
        self._unwritten.extend(results)
        failed = any(r.failures for r in results)
        if failed or not self.defer_metrics:
            self.flush()
        if failed:
            raise QualityGateFailed(results)

    def flush(self) -> None:
        """Merge the QUALITY_METRICS rows not written yet (all of them in one write)."""
        if not self._unwritten:
            return
        run_time = datetime.now(timezone.utc)  # aware: stored as this instant in any driver zone
        frame = metrics_frame(self.spark, self._unwritten, self.run_id, self.run_date, run_time)
        write_metrics(self.warehouse, self.config.table(self.settings.metrics_table), frame)
        self._unwritten = []


def _at(logical: str, rule) -> str:
    return f"quality.tables.{logical} check {rule.check_name}"


def _require_columns(
    conf_path: str, where: str, needed: Sequence[str], present: Sequence[str]
) -> None:
    """Raise QualityRuleError when ``where`` lacks a column the rule at ``conf_path`` needs."""
    missing = [c for c in needed if c not in present]
    if missing:
        raise QualityRuleError(
            f"conf error: {conf_path}: column(s) {', '.join(missing)} not in {where} "
            f"(it has {', '.join(present)}); fix the rule or the table it names"
        )
