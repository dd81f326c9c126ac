"""Load a dashboard for a connection: read what it needs (live or from the cache) in one load,
evaluate it, and say where the data came from.

Charts that need a dataset the connection cannot read (not picked, or the key lacks Read on it)
come back marked ``unavailable`` with the reason and the fix; the others are drawn.
"""

from __future__ import annotations

from typing import Any

from flitch import catalog
from flitch.connections.records import ConnectionInfo
from flitch.dashboards import reporting as reporting_currency
from flitch.dashboards.evaluate import evaluate
from flitch.dashboards.model import Dashboard
from flitch.dashboards.period import Period
from flitch.dashboards.plan import chart_datasets, plan_reads
from flitch.metrics.series import Grain
from flitch.query.engine import QueryEngine


def unreadable(conn: ConnectionInfo) -> dict[str, dict[str, str]]:
    """Dataset → ``{"reason", "fix"}`` for every dataset the connection cannot answer."""
    picked = {d.object: d for d in conn.datasets}
    out: dict[str, dict[str, str]] = {}
    for spec in catalog.OBJECTS:
        info = picked.get(spec.name)
        if info is None:
            out[spec.name] = {
                "reason": f"{spec.label} is not picked for this connection.",
                "fix": f"Pick {spec.label} for the connection (flitch set-objects, or the Data "
                "page) to see this chart.",
            }
        elif info.blocked:
            out[spec.name] = {
                "reason": info.reason or f"The key lacks {spec.permission_label}.",
                "fix": info.fix
                or f"Edit the restricted key in Stripe to grant {spec.permission_label}.",
            }
    return out


async def load_dashboard(
    engine: QueryEngine,
    connection: str,
    dashboard: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    reporting: str | None = None,
    force_live: bool = False,
) -> dict[str, Any]:
    """The dashboard's JSON for a connection and period (see ``evaluate``), with the
    connection's name and mode and ``data``: live or cache, as of when, Stripe requests;
    ``reporting``: its money in that currency (:mod:`flitch.dashboards.reporting`)."""
    conn = engine.connections.get(connection)
    skip = unreadable(conn)
    drawable = [c for c in dashboard.charts if not any(d in skip for d in chart_datasets(c))]
    reads = reporting_currency.plan(plan_reads(drawable, period), reporting, skip)
    loaded = await engine.load(conn.id, reads, force_live=force_live)
    try:
        out = evaluate(loaded, dashboard, period, grain=grain, currency=currency, skip=skip)
        out = reporting_currency.apply(out, loaded, reporting, period, skip)
    finally:
        loaded.close()
    return {
        "connection": {"name": conn.name, "mode": conn.mode, "refresh": conn.refresh},
        "data": loaded.provenance.to_dict(),
        **out,
    }
