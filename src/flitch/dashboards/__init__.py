"""Dashboards: the built-in Payments, Billing, Revenue and Retention dashboards and user-made
ones, as data (``model``, ``builtin``, ``storage``), evaluated for a connection and a period into
JSON a page or the terminal draws (``evaluate``, ``service``)."""

from flitch.dashboards.builtin import BUILTIN, get_builtin
from flitch.dashboards.evaluate import evaluate
from flitch.dashboards.model import (
    Agg,
    Chart,
    ChartType,
    Dashboard,
    Filter,
    Grouping,
    Measure,
    Op,
    chart_from_dict,
    dashboard_from_dict,
)
from flitch.dashboards.period import Period, preset, resolve
from flitch.dashboards.plan import plan_reads
from flitch.dashboards.service import load_dashboard

__all__ = [
    "BUILTIN",
    "Agg",
    "Chart",
    "ChartType",
    "Dashboard",
    "Filter",
    "Grouping",
    "Measure",
    "Op",
    "Period",
    "chart_from_dict",
    "dashboard_from_dict",
    "evaluate",
    "get_builtin",
    "load_dashboard",
    "plan_reads",
    "preset",
    "resolve",
]
