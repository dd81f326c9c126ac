"""Revenue metrics as documented in METRICS.md: definitions and SQL together (``definitions``
and the modules it gathers), their evaluation over a connection's datasets, live or cached
(``compute``), and over time (``series``)."""

from flitch.metrics.compute import (
    MetricValues,
    compute,
    compute_previous,
    compute_report,
    reads_for,
)
from flitch.metrics.definitions import (
    BY_NAME,
    METRICS,
    REPORTS,
    REPORTS_BY_NAME,
    get,
    get_report,
)
from flitch.metrics.model import Column, Metric, Report, Unit
from flitch.metrics.series import Grain, compute_series

__all__ = [
    "BY_NAME",
    "METRICS",
    "REPORTS",
    "REPORTS_BY_NAME",
    "Column",
    "Grain",
    "Metric",
    "MetricValues",
    "Report",
    "Unit",
    "compute",
    "compute_previous",
    "compute_report",
    "compute_series",
    "get",
    "get_report",
    "reads_for",
]
