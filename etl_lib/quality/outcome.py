"""What one check concluded, whichever engine ran it (Great Expectations or etl_lib)."""

from __future__ import annotations

from dataclasses import dataclass

from etl_lib.quality.rules import Severity

__all__ = ["CheckOutcome", "judge", "STATUSES"]

#: PASS: the check held. WARN / FAIL: it did not, and its severity was warn / fail.
STATUSES = ("PASS", "WARN", "FAIL")


@dataclass(frozen=True)
class CheckOutcome:
    """One QUALITY_METRICS row's verdict: a named check, its status and how many errors."""

    check_name: str
    check_type: str
    severity: Severity
    status: str
    error_count: int
    details: str

    @property
    def failed(self) -> bool:
        """True when a ``fail`` check did not hold (the run must stop)."""
        return self.status == "FAIL"


def judge(rule, error_count: int, details: str, violated: bool | None = None) -> CheckOutcome:
    """The outcome of ``rule``: violated (default: any error) gives WARN or FAIL by severity."""
    broken = error_count > 0 if violated is None else violated
    status = "PASS" if not broken else ("WARN" if rule.severity == "warn" else "FAIL")
    return CheckOutcome(
        check_name=rule.check_name,
        check_type=rule.check,
        severity=rule.severity,
        status=status,
        error_count=int(error_count),
        details=details,
    )
