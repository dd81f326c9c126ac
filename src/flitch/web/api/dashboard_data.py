"""What a dashboard shows for a connection and a period, and the rows behind any of its numbers.

``GET /connections/{c}/dashboards/{name}`` reads what the dashboard needs in one load (live from
Stripe with refresh off, each list once; from the cache with refresh on) and answers the
evaluated JSON of :func:`flitch.dashboards.evaluate.evaluate`, with the connection's mode and
where the data came from. ``GET /connections/{c}/datasets/{d}/drill`` pages the rows behind one
number: the browser names the chart, the period and what was clicked; the condition is looked up
on the server (:mod:`flitch.web.drilldown`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from flitch.connections.records import ConnectionInfo
from flitch.dashboards import reporting as reporting_currency
from flitch.dashboards.evaluate import evaluate, pick_currency
from flitch.dashboards.model import Dashboard
from flitch.dashboards.period import Period, resolve
from flitch.dashboards.plan import chart_datasets, plan_reads
from flitch.dashboards.progressive import stream_board
from flitch.dashboards.service import unreadable
from flitch.errors import AuthenticationFailed, FlitchError, InputError, PermissionMissing
from flitch.metrics.series import Grain, auto_grain, buckets
from flitch.query.engine import Loaded, QueryEngine
from flitch.query.reads import DatasetRead
from flitch.store import QueryResult
from flitch.store.schema import quote_ident
from flitch.web.api.dashboard_models import DrillOut, DrillRowsOut
from flitch.web.api.dashboards import Store
from flitch.web.api.dataset_models import ResultColumnOut
from flitch.web.api.models import ERROR_RESPONSES, iso
from flitch.web.context import WebContext, context_of
from flitch.web.drilldown import Drill, DrillRef
from flitch.web.drilldown import resolve as resolve_drill
from flitch.web.errors import status_for
from flitch.web.queries import (
    MAX_PAGE,
    RowsRequest,
    check_request,
    dataset_of,
    epoch,
    shown_columns,
)

router = APIRouter(prefix="/api/v1", tags=["dashboards"], responses=ERROR_RESPONSES)

Ctx = Annotated[WebContext, Depends(context_of)]
#: Most buckets a chart over time may have (a finer grain over a long period is refused).
MAX_BUCKETS = 1500
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
Currency = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z]{3}$|^all$", description="One currency (e.g. usd); all by default."),
]
Reporting = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z]{3}$",
        description="A reporting currency (e.g. usd): money converted at Stripe's settlement "
        "rates, currencies never settled into it kept apart; per currency when not given.",
    ),
]
#: What a drill-down's currency may be: also ``none``, the records with no currency.
DrillCurrency = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z]{3}$|^all$|^none$",
        description="The currency clicked (e.g. usd; none: records with no currency).",
    ),
]
GrainParam = Annotated[
    Literal["day", "week", "month"] | None,
    Query(description="The time grain; by default it follows the period."),
]


def _day(value: date | None, what: str) -> str | None:
    if value is None:
        return None
    if not EARLIEST <= value <= LATEST:
        raise InputError(
            f"{what} is outside the dates Flitch charts.",
            f"Pick a day between {EARLIEST} and {LATEST}.",
        )
    return value.isoformat()


def period_of(
    ctx: WebContext, last: str | None, start: date | None, end: date | None, grain: str | None
) -> tuple[Period, Grain | None]:
    """The period the picker asks for (today from the app's clock) and the grain."""
    period = resolve(last, _day(start, "from"), _day(end, "to"), now=ctx.clock())
    chosen = Grain(grain) if grain else None
    if len(buckets(period.start, period.end, chosen or auto_grain(period.start, period.end))) > (
        MAX_BUCKETS
    ):
        raise InputError(
            "That period has too many buckets for the grain picked.",
            "Pick a coarser grain (week or month) or a shorter period.",
        )
    return period, chosen


@dataclass(frozen=True)
class BoardView:
    """What a dashboard is shown for, from its query string: the period (with the grain
    asked for, if any), one currency or all, and a reporting currency."""

    period: Period
    grain: Grain | None
    currency: str | None
    reporting: str | None


def board_view(
    ctx: Ctx,
    last: Annotated[
        Literal["7d", "30d", "90d", "12m"] | None,
        Query(description="A preset period; the last 30 days when no dates are given."),
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="First day (custom).")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included.")] = None,
    grain: GrainParam = None,
    currency: Currency = None,
    reporting: Reporting = None,
) -> BoardView:
    """The query parameters the plain and the streamed dashboard share, checked once."""
    period, chosen = period_of(ctx, last, start, end, grain)
    picked = None if currency in (None, "all") else str(currency).lower()
    return BoardView(period, chosen, picked, pick_currency(reporting))


Shown = Annotated[BoardView, Depends(board_view)]


async def load_board(
    ctx: WebContext,
    conn: ConnectionInfo,
    board: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    reporting: str | None = None,
) -> dict[str, Any]:
    """The dashboard's JSON (see :func:`flitch.dashboards.service.load_dashboard`, which this
    mirrors on the web app's engine): one load, evaluated off the event loop."""
    skip = unreadable(conn)
    drawable = [c for c in board.charts if not any(d in skip for d in chart_datasets(c))]
    reads = reporting_currency.plan(plan_reads(drawable, period), reporting, skip)
    loaded: Loaded = await ctx.queries.load(conn, reads)
    try:
        out = await anyio.to_thread.run_sync(
            partial(evaluate, loaded, board, period, grain=grain, currency=currency, skip=skip)
        )
        out = await anyio.to_thread.run_sync(
            reporting_currency.apply, out, loaded, reporting, period, skip
        )
    finally:
        await anyio.to_thread.run_sync(loaded.close)
    return {
        "connection": {
            "id": conn.id,
            "name": conn.name,
            "mode": conn.mode,
            "refresh": conn.refresh,
        },
        "data": loaded.provenance.to_dict(),
        **out,
    }


@router.get(
    "/connections/{connection}/dashboards/{name}",
    name="api_dashboard_data",
    response_model=dict[str, Any],
)
async def dashboard_data(
    connection: str, name: str, ctx: Ctx, store: Store, shown: Shown
) -> dict[str, Any]:
    """A dashboard for a connection and period: headline numbers with the previous period and
    the change, series per currency for every bucket, tables, each with its definition and its
    drill-downs; charts the connection cannot read come back ``unavailable`` with the fix."""
    conn = ctx.connections.get(connection)
    board = store.find(name)
    return await load_board(
        ctx,
        conn,
        board,
        shown.period,
        grain=shown.grain,
        currency=shown.currency,
        reporting=shown.reporting,
    )


async def board_events(
    ctx: WebContext,
    conn: ConnectionInfo,
    board: Dashboard,
    period: Period,
    *,
    grain: Grain | None = None,
    currency: str | None = None,
    reporting: str | None = None,
) -> AsyncGenerator[dict[str, Any]]:
    """The events of a progressive load (:mod:`flitch.dashboards.progressive`), run on the
    engine's loop; a Flitch error ends them with an ``error`` event carrying its problem."""
    skip = unreadable(conn)
    drawable = [c for c in board.charts if not any(d in skip for d in chart_datasets(c))]
    header = {
        "connection": {"id": conn.id, "name": conn.name, "mode": conn.mode, "refresh": conn.refresh}
    }

    async def events(engine: QueryEngine) -> AsyncGenerator[dict[str, Any]]:
        reads = reporting_currency.plan(plan_reads(drawable, period), reporting, skip)
        streamed = await engine.stream(conn.id, reads)
        async for event in stream_board(
            streamed,
            board,
            period,
            grain=grain,
            currency=currency,
            skip=skip,
            header=header,
            reporting=reporting,
        ):
            yield event

    try:
        async for event in ctx.queries.relay(events):
            yield event
    except FlitchError as error:
        if isinstance(error, AuthenticationFailed | PermissionMissing):
            await ctx.queries.remember(conn, error, plan_reads(drawable, period))
        yield {"event": "error", "status": status_for(error), "problem": error.to_dict()}


async def _lines(events: AsyncGenerator[dict[str, Any]]) -> AsyncGenerator[bytes]:
    try:
        async for event in events:
            yield orjson.dumps(event) + b"\n"
    finally:
        await events.aclose()


@router.get(
    "/connections/{connection}/dashboards/{name}/stream",
    name="api_dashboard_stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def dashboard_stream(
    connection: str, name: str, ctx: Ctx, store: Store, shown: Shown
) -> StreamingResponse:
    """The same dashboard drawn as it is read: JSON lines, each an event — ``plan`` (every
    chart with the datasets it waits for, every read with its pages and the estimate),
    ``progress`` (the reads, four times a second), ``chart`` (one chart, the moment its data
    is in), then ``done`` (the whole answer, as the plain GET gives it) or ``error`` (a
    problem). Closing the connection cancels the load's Stripe reads."""
    conn = ctx.connections.get(connection)
    board = store.find(name)
    events = board_events(
        ctx,
        conn,
        board,
        shown.period,
        grain=shown.grain,
        currency=shown.currency,
        reporting=shown.reporting,
    )
    return StreamingResponse(
        _lines(events),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- drill-downs ---------------------------------------------------------------------------------
_LOW = int(datetime(EARLIEST.year, 1, 1, tzinfo=UTC).timestamp())
_HIGH = int(datetime(LATEST.year + 1, 1, 1, tzinfo=UTC).timestamp())


def _seconds(value: datetime | None, what: str) -> int | None:
    """Unix seconds of a time the browser sent, within the dates Flitch charts."""
    if value is None:
        return None
    try:
        seconds = epoch(value)
    except (OverflowError, OSError, ValueError):
        seconds = None
    if seconds is None or not _LOW <= seconds <= _HIGH:
        raise InputError(
            f"{what} is outside the dates Flitch charts.",
            f"Send an ISO 8601 time between {EARLIEST} and {LATEST}.",
        )
    return seconds


def _row(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        row = orjson.loads(text)
    except orjson.JSONDecodeError:
        row = None
    if not isinstance(row, dict):
        raise InputError(
            "row must be a JSON object of the clicked row's label cells.",
            'Follow the link from the dashboard, e.g. row={"group": "failed"}.',
        )
    return row


def _page(
    loaded: Loaded, drill: Drill, request: RowsRequest, columns: tuple[str, ...]
) -> tuple[QueryResult, int]:
    where = drill.where
    params: dict[str, Any] = {"limit": request.limit, "offset": request.offset}
    if request.created_from is not None:
        where += " AND created >= to_timestamp($cfrom)"
        params["cfrom"] = request.created_from
    if request.created_to is not None:
        where += " AND created < to_timestamp($cto)"
        params["cto"] = request.created_to
    table = quote_ident(drill.dataset)
    direction = "DESC" if request.descending else "ASC"
    order = f"{quote_ident(request.sort)} {direction} NULLS LAST"
    if request.sort != "id":
        order += f", id {direction}"
    select = ", ".join(quote_ident(c) for c in columns)
    page = loaded.query(
        f"SELECT {select} FROM {table} WHERE {where} ORDER BY {order} "  # noqa: S608
        "LIMIT $limit OFFSET $offset",
        params,
    )
    counted = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    total = loaded.query(f"SELECT count(*) FROM {table} WHERE {where}", counted or None)  # noqa: S608
    return page, int(total.rows[0][0])


@router.get(
    "/connections/{connection}/datasets/{dataset}/drill",
    name="api_drill_rows",
    response_model=DrillRowsOut,
)
async def drill_rows(
    connection: str,
    dataset: str,
    ctx: Ctx,
    store: Store,
    dashboard: Annotated[str, Query(max_length=64, description="The dashboard's name.")],
    chart: Annotated[str, Query(max_length=64, description="The chart's id.")],
    start: Annotated[datetime, Query(description="The period's start (ISO 8601, UTC).")],
    end: Annotated[datetime, Query(description="The period's end, excluded.")],
    currency: DrillCurrency = None,
    bucket: Annotated[datetime | None, Query(description="A series point's bucket start.")] = None,
    grain: GrainParam = None,
    row: Annotated[
        str | None,
        Query(max_length=4000, description="A table row's label cells, as a JSON object."),
    ] = None,
    sort: Annotated[str, Query(max_length=64)] = "created",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> DrillRowsOut:
    """The rows behind one number of a dashboard, a page at a time: which number is named by
    the dashboard, the chart, the period, and the currency, bucket or row clicked."""
    conn = ctx.connections.get(connection)
    spec = dataset_of(conn, dataset)
    ref = DrillRef(
        dashboard=dashboard,
        chart=chart,
        start=_seconds(start, "start") or 0,
        end=_seconds(end, "end") or 0,
        currency=currency,
        bucket=_seconds(bucket, "bucket"),
        grain=Grain(grain) if grain else None,
        row=_row(row),
    )
    found = resolve_drill(store.find(dashboard), ref)
    if found.dataset != spec.name:
        raise InputError(
            f"That number is made of {found.dataset} rows, not {spec.name}.",
            f"Open /data/{conn.id}/datasets/{found.dataset} with the same drill-down.",
        )
    request = RowsRequest(
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
        created_from=_seconds(created_from, "created_from"),
        created_to=_seconds(created_to, "created_to"),
    )
    check_request(spec, request)
    reads = list(found.reads) or [DatasetRead(spec.name)]
    loaded = await ctx.queries.load(conn, reads)
    columns = shown_columns(spec)
    try:
        result, total = await anyio.to_thread.run_sync(_page, loaded, found, request, columns)
    finally:
        await anyio.to_thread.run_sync(loaded.close)
    provenance = loaded.provenance
    return DrillRowsOut(
        connection_id=conn.id,
        dataset=spec.name,
        columns=[ResultColumnOut(name=c.name, type=c.type) for c in result.columns],
        rows=[list(r) for r in result.rows],
        total=total,
        limit=limit,
        offset=offset,
        sort=request.sort,
        order=order,
        created_from=iso(request.created_from),
        created_to=iso(request.created_to),
        source="cache" if provenance.source == "cache" else "live",
        as_of=iso(provenance.as_of),
        requests=provenance.requests,
        notes=list(provenance.notes),
        problem=None,
        drill=DrillOut(**found.to_dict()),
    )
