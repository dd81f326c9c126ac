"""Revenue metrics as documented in METRICS.md: definitions and SQL together (``definitions``),
and their evaluation over a connection's datasets, live or cached (``compute``)."""

from flitch.metrics.compute import MetricValues, compute, reads_for
from flitch.metrics.definitions import BY_NAME, METRICS, Metric, Unit, get

__all__ = ["BY_NAME", "METRICS", "Metric", "MetricValues", "Unit", "compute", "get", "reads_for"]
