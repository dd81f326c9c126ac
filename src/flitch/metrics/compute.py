"""Evaluate metrics over a connection's datasets for a period ``[start, end)``.

The same function runs over a live load (an in-memory DuckDB of just-fetched pages) and over
the cache, so a metric has one value whichever way it was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from flitch.metrics.definitions import Metric, Unit
from flitch.query.reads import DatasetRead
from flitch.store.base import QueryResult


class Queryable(Protocol):
    def query(
        self, sql: str, params: Any = None, *, max_rows: int | None = None
    ) -> QueryResult: ...


@dataclass(frozen=True)
class MetricValues:
    """One metric's value per currency (``"all"`` for metrics without one)."""

    metric: Metric
    values: dict[str, int | float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.metric.label,
            "unit": self.metric.unit.value,
            "definition": self.metric.definition,
            "values": self.values,
        }


def reads_for(metrics: Iterable[Metric], start: int, end: int) -> list[DatasetRead]:
    """What a live load must fetch: period metrics narrowed to it, the rest whole."""
    reads: list[DatasetRead] = []
    for metric in metrics:
        for dataset in metric.datasets:
            if metric.ranged:
                reads.append(DatasetRead(dataset, created_gte=start, created_lt=end))
            else:
                reads.append(DatasetRead(dataset))
    return reads


def period_params(start: int, end: int) -> dict[str, datetime]:
    return {
        "start": datetime.fromtimestamp(start, UTC),
        "end": datetime.fromtimestamp(end, UTC),
    }


def _value(unit: Unit, raw: Any) -> int | float:
    if raw is None:
        return 0
    if unit is Unit.RATIO:
        return float(raw)
    return round(float(raw))


def compute(
    source: Queryable, metrics: Sequence[Metric], start: int, end: int
) -> dict[str, MetricValues]:
    """Each metric's values for ``[start, end)`` (Unix seconds)."""
    params = period_params(start, end)
    out: dict[str, MetricValues] = {}
    for metric in metrics:
        used = {k: v for k, v in params.items() if f"${k}" in metric.sql}
        result = source.query(metric.sql, used or None)
        values = {
            str(row[0]): _value(metric.unit, row[1]) for row in result.rows if row[0] is not None
        }
        out[metric.name] = MetricValues(metric, dict(sorted(values.items())))
    return out
