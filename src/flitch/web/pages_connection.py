"""The pages of one connection and of its datasets.

They render what the JSON API returns (:mod:`flitch.web.api.datasets`) and act through it from
``static/connection.js`` and ``static/dataset.js``: refresh now with live progress, the refresh
setting, update key, delete; a dataset's rows, sorted, paged, filtered, exported.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from flitch import catalog
from flitch.connections.records import REFRESH_CHOICES, ConnectionInfo
from flitch.dashboards.terminal import ZERO_DECIMAL
from flitch.errors import NotFound
from flitch.web.api.datasets import dataset_list, dataset_view
from flitch.web.api.objects import object_list
from flitch.web.context import WebContext, context_of
from flitch.web.troubleshoot import NO_DATA_EXPLAINED, STRIPE_KEYS_URL

router = APIRouter(include_in_schema=False)

Ctx = Annotated[WebContext, Depends(context_of)]

_EVERY = {
    "15m": "Every 15 minutes",
    "30m": "Every 30 minutes",
    "1h": "Every hour",
    "6h": "Every 6 hours",
    "12h": "Every 12 hours",
    "1d": "Every day",
}
#: The refresh setting's choices, in order, with their labels.
REFRESH_OPTIONS: list[tuple[str, str]] = [("off", "Off (live queries)")] + [
    (value, _EVERY.get(value, value)) for value in REFRESH_CHOICES
]
#: One sentence for each mode of the refresh setting.
MODE_SENTENCES = {
    "off": "Off: every dashboard load and every dataset page runs a live query against Stripe, "
    "so what you see is always current; nothing is kept.",
    "on": "On: a background refresh runs on the schedule and fills a cache; dashboards and "
    "dataset pages are served from that cache between runs.",
}


def gone_page(
    request: Request, ctx: Ctx, wanted: str, board: dict[str, Any] | None = None
) -> Response:
    """The answer to a link naming a connection that is not saved (deleted since, or never
    here): it says so, with the ways on, and never shows another connection in its place: a
    page of someone else's numbers under an old link would be read as the old account's."""
    context = {
        "wanted": wanted[:64],
        "connections": [
            {"id": c.id, "name": c.name, "mode": c.mode} for c in ctx.connections.list()
        ],
        "board": board,
    }
    return ctx.renderer.page(request, "connection_gone.html", context, 404)


def _connection(ctx: Ctx, wanted: str) -> ConnectionInfo | None:
    try:
        return ctx.connections.get(wanted)
    except NotFound:
        return None


@router.get("/data/{connection_id}", name="connection_page")
def connection_page(connection_id: str, request: Request, ctx: Ctx) -> Response:
    info = _connection(ctx, connection_id)
    if info is None:
        return gone_page(request, ctx, connection_id)
    job = ctx.refreshes.latest(info.id)
    context = {
        "connection": info.to_dict(),
        "view": dataset_list(info).model_dump(),
        "refresh_options": REFRESH_OPTIONS,
        "mode_sentences": MODE_SENTENCES,
        "job": job.to_dict() if job is not None and job.running else None,
        "stripe_keys_url": STRIPE_KEYS_URL,
        "objects": [o.model_dump() for o in object_list()],
        "picked": list(info.objects),
        "states": {d.object: d.status.value for d in info.datasets},
    }
    return ctx.renderer.page(request, "connection.html", context)


@router.get("/data/{connection_id}/datasets/{dataset}", name="dataset_page")
def dataset_page(connection_id: str, dataset: str, request: Request, ctx: Ctx) -> Response:
    info = _connection(ctx, connection_id)
    if info is None:
        return gone_page(request, ctx, connection_id)
    view = dataset_view(info, dataset)
    context = {
        "connection": info.to_dict(),
        "dataset": view.model_dump(),
        "no_data_explained": NO_DATA_EXPLAINED,
        # amounts of these currencies are whole units (JPY has no minor unit)
        "zero_decimal": ",".join(sorted(ZERO_DECIMAL)),
        # the column whose currency the amount columns count (the catalog says which)
        "currency_column": catalog.get(view.name).currency_column,
    }
    return ctx.renderer.page(request, "dataset.html", context)
