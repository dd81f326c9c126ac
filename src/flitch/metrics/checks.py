"""Checks that two metrics built apart tell the same story about one account.

The cohort table and MRR movements both read the MRR spans rebuilt from invoices, by different
statements: the cohorts sum each cohort's customers at the end of each of its months, the
movements take an MRR snapshot at the start of each month. Summed over the cohorts, a month's
MRR must be the snapshot at that month's end. The suite runs this on generated accounts, the
dashboards benchmark on its million-charge one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flitch.metrics.compute import Queryable, compute_report, run
from flitch.metrics.definitions import get_report
from flitch.metrics.derived import MRR_SPANS


@dataclass(frozen=True)
class CohortCheck:
    """Each month end's MRR per currency: summed over the cohorts (``cells``) and as MRR
    movements' snapshot (``snapshots``), keyed ``(currency, "YYYY-MM-DD HH:MM")``; ``slack``:
    the difference rounding allows (half a unit per cohort, each cohort rounded on its own)."""

    cells: dict[tuple[str, str], int]
    snapshots: dict[tuple[str, str], int]
    slack: float

    @property
    def mismatches(self) -> list[tuple[tuple[str, str], int, int]]:
        """``(key, cohorts' sum, snapshot)`` where they differ by more than the slack, or
        where a snapshot with MRR has no cell."""
        out = [
            (key, total, self.snapshots.get(key, 0))
            for key, total in sorted(self.cells.items())
            if abs(self.snapshots.get(key, 0) - total) > self.slack
        ]
        out += [
            (key, 0, value)
            for key, value in sorted(self.snapshots.items())
            if value and key not in self.cells
        ]
        return out

    @property
    def worst(self) -> int:
        """The largest difference between a month's two figures."""
        keys = set(self.cells) | set(self.snapshots)
        return max((abs(self.cells.get(k, 0) - self.snapshots.get(k, 0)) for k in keys), default=0)


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _key(currency: Any, at: datetime) -> tuple[str, str]:
    return str(currency), at.strftime("%Y-%m-%d %H:%M")


def cohorts_against_mrr(source: Queryable, end: int) -> CohortCheck:
    """Every cohort since the account's first span, up to ``end`` (Unix seconds), against MRR
    movements' monthly snapshots over the same months."""
    sql = f"SELECT epoch(date_trunc('month', min(span_from))) FROM {MRR_SPANS.table}"  # noqa: S608
    first = run(source, sql).rows[0][0]
    if first is None:
        return CohortCheck({}, {}, 0.0)
    start = int(first)
    rows = compute_report(source, get_report("mrr_cohorts"), start, end)
    movements = compute_report(source, get_report("mrr_movements"), start, end, "month")
    last = datetime.fromtimestamp(end, UTC)
    cells: dict[tuple[str, str], int] = {}
    for r in rows:
        cohort = _when(r["cohort"])
        months = cohort.year * 12 + cohort.month - 1 + r["months_since"] + 1
        at = min(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC), last)
        key = _key(r["currency"], at)
        cells[key] = cells.get(key, 0) + r["mrr"]
    snapshots = {
        _key(r["currency"], _when(r["bucket"])): r["amount"]
        for r in movements
        if r["movement"] == "mrr" and r["bucket"] is not None
    }
    slack = len({(r["currency"], str(r["cohort"])) for r in rows}) / 2
    return CohortCheck(cells, snapshots, slack)
