"""The Dashboards pages: the list (built-in and user-made, for a connection picked at the top)
and one dashboard, drawn in the browser from the JSON API (``static/dashboard.js`` and
``static/charts.js``); admins build their own from there (``static/chart_editor.js``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from flitch.connections.records import ConnectionInfo
from flitch.dashboards.builtin import BUILTIN
from flitch.dashboards.period import PRESETS
from flitch.dashboards.terminal import ZERO_DECIMAL
from flitch.metrics.definitions import METRICS
from flitch.web.api.dashboards import Store, definition
from flitch.web.auth import principal_of
from flitch.web.context import WebContext, context_of
from flitch.web.pages_connection import gone_page

router = APIRouter(include_in_schema=False)

Ctx = Annotated[WebContext, Depends(context_of)]

RANGES = [("7d", "Last 7 days"), ("30d", "Last 30 days"), ("90d", "Last 90 days")]
RANGES += [("12m", "Last 12 months"), ("custom", "Custom range")]
GRAINS = [("", "Automatic"), ("day", "By day"), ("week", "By week"), ("month", "By month")]
assert {r for r, _ in RANGES} == {*PRESETS, "custom"}


def picked(connections: list[ConnectionInfo], wanted: str | None) -> ConnectionInfo | None:
    """The connection asked for (by id or name), or the first one when none is asked for.

    A connection asked for and not found is ``None``: the page then says it no longer exists
    rather than show the first connection's numbers under a link that named another."""
    if wanted is None:
        return connections[0] if connections else None
    return next((c for c in connections if wanted in (c.id, c.name)), None)


def _brief(conn: ConnectionInfo) -> dict[str, Any]:
    # With refresh on, the pages are served from the cache only once a refresh has filled it.
    cached = conn.refresh_every is not None and any(d.last_refresh_at for d in conn.datasets)
    return {
        "id": conn.id,
        "name": conn.name,
        "mode": conn.mode,
        "refresh": conn.refresh,
        "cached": cached,
    }


@router.get("/dashboards", name="dashboards_page")
def dashboards_page(
    request: Request, ctx: Ctx, store: Store, connection: str | None = None
) -> Response:
    connections = ctx.connections.list()
    current = picked(connections, connection)
    if current is None and connection is not None:
        return gone_page(request, ctx, connection)
    context = {
        "connections": [_brief(c) for c in connections],
        "current": _brief(current) if current else None,
        "builtin": [definition(d) for d in BUILTIN.values()],
        "mine": [definition(d) for d in store.all()],
        "is_admin": principal_of(request).user.is_admin,
    }
    return ctx.renderer.page(request, "dashboards.html", context)


@router.get("/dashboards/{name}", name="dashboard_page")
def dashboard_page(
    name: str, request: Request, ctx: Ctx, store: Store, connection: str | None = None
) -> Response:
    board = store.find(name)
    connections = ctx.connections.list()
    current = picked(connections, connection)
    if current is None and connection is not None:
        return gone_page(request, ctx, connection, {"name": board.name, "title": board.title})
    context = {
        "board": definition(board),
        "connections": [_brief(c) for c in connections],
        "current": _brief(current) if current else None,
        "is_admin": principal_of(request).user.is_admin,
        "ranges": RANGES,
        "grains": GRAINS,
        "zero_decimal": ",".join(sorted(ZERO_DECIMAL)),
        # whether a rise of each metric is good news, for its change badges
        "up_is_good": json.dumps({m.name: m.up_is_good for m in METRICS}),
    }
    return ctx.renderer.page(request, "dashboard.html", context)
