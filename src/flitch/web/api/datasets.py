"""A connection's datasets: list them, page through one, export one.

Reading datasets is open to every signed-in user (viewers included). A page of rows comes from
the cache when the connection's refresh is on, and is read live from Stripe when it is off (only
the requested time range is asked for). Exports are downloads of the whole dataset.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from flitch import catalog
from flitch import clock as clocks
from flitch.connections.records import ConnectionInfo
from flitch.errors import InputError
from flitch.web import troubleshoot
from flitch.web.api.dataset_models import (
    ConnectionBrief,
    DatasetList,
    DatasetOut,
    ProblemOut,
    ResultColumnOut,
    RowsOut,
)
from flitch.web.api.models import ERROR_RESPONSES, iso
from flitch.web.context import WebContext, context_of
from flitch.web.queries import MAX_PAGE, RowsRequest, dataset_of, epoch

router = APIRouter(prefix="/api/v1", tags=["datasets"], responses=ERROR_RESPONSES)

Ctx = Annotated[WebContext, Depends(context_of)]
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def dataset_list(conn: ConnectionInfo) -> DatasetList:
    """Every dataset of a connection, with its problems (shared by the API and the page)."""
    return DatasetList(
        connection=ConnectionBrief(
            id=conn.id, name=conn.name, mode=conn.mode, refresh=conn.refresh
        ),
        datasets=[DatasetOut.of(conn, d, catalog.get(d.object)) for d in conn.datasets],
        problems=[ProblemOut.of(p) for p in troubleshoot.of_connection(conn)],
    )


def dataset_view(conn: ConnectionInfo, name: str) -> DatasetOut:
    spec = dataset_of(conn, name)
    info = next(d for d in conn.datasets if d.object == spec.name)
    return DatasetOut.of(conn, info, spec)


def _seconds(value: datetime | None, what: str) -> int | None:
    try:
        return epoch(value)
    except (OverflowError, OSError, ValueError):
        raise InputError(
            f"{what} is outside the range of dates Flitch can use.",
            "Send an ISO 8601 date and time between the years 1970 and 9999.",
        ) from None


@router.get(
    "/connections/{connection}/datasets", name="api_list_datasets", response_model=DatasetList
)
def list_datasets(connection: str, ctx: Ctx) -> DatasetList:
    """A connection's datasets: rows (cached) or live, columns with types, last refresh, status
    and, where something is wrong, the seed's explanation and the fix."""
    return dataset_list(ctx.connections.get(connection))


@router.get(
    "/connections/{connection}/datasets/{dataset}",
    name="api_get_dataset",
    response_model=DatasetOut,
)
def get_dataset(connection: str, dataset: str, ctx: Ctx) -> DatasetOut:
    """One dataset of a connection."""
    return dataset_view(ctx.connections.get(connection), dataset)


@router.get(
    "/connections/{connection}/datasets/{dataset}/rows",
    name="api_dataset_rows",
    response_model=RowsOut,
)
async def dataset_rows(
    connection: str,
    dataset: str,
    ctx: Ctx,
    sort: Annotated[str, Query(max_length=64, description="A column (see sortable).")] = "created",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    created_from: Annotated[
        datetime | None, Query(description="Only rows created at or after (ISO 8601, UTC).")
    ] = None,
    created_to: Annotated[
        datetime | None, Query(description="Only rows created before (ISO 8601, UTC).")
    ] = None,
) -> RowsOut:
    """A page of a dataset's rows, sorted by one column, within a created-time range.

    From the cache when refresh is on; read live from Stripe when it is off (narrowed to the
    range, so Stripe is only asked for what can be shown).
    """
    conn = ctx.connections.get(connection)
    spec = dataset_of(conn, dataset)
    request = RowsRequest(
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
        created_from=_seconds(created_from, "created_from"),
        created_to=_seconds(created_to, "created_to"),
    )
    answer = await ctx.queries.rows(conn, spec, request)
    page = answer.page
    ranged = request.created_from is not None or request.created_to is not None
    problem = None
    if page.total == 0 and not ranged:
        problem = ProblemOut.of(troubleshoot.no_data(conn.mode))
    provenance = answer.provenance
    return RowsOut(
        connection_id=conn.id,
        dataset=spec.name,
        columns=[ResultColumnOut(name=c.name, type=c.type) for c in page.result.columns],
        rows=[list(r) for r in page.result.rows],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        sort=request.sort,
        order=order,
        created_from=iso(request.created_from),
        created_to=iso(request.created_to),
        source="cache" if provenance.source == "cache" else "live",
        as_of=iso(provenance.as_of),
        requests=provenance.requests,
        notes=list(provenance.notes),
        problem=problem,
    )


@router.get(
    "/connections/{connection}/datasets/{dataset}/export",
    name="api_export_dataset",
    response_class=Response,
    responses={
        200: {
            "description": "The whole dataset as a file (a download).",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        }
    },
)
async def export_dataset(
    connection: str,
    dataset: str,
    ctx: Ctx,
    format: Literal["csv", "parquet"] = "csv",
) -> Response:
    """Download the whole dataset as CSV or Parquet (live, or from the cache when refresh is
    on). The answer says where the rows came from in ``X-Flitch-Source``."""
    conn = ctx.connections.get(connection)
    spec = dataset_of(conn, dataset)
    folder = Path(tempfile.mkdtemp(prefix="flitch-export-"))
    stamp = datetime.fromtimestamp(clocks.now(), UTC).strftime("%Y%m%d-%H%M")
    filename = f"{_UNSAFE.sub('-', conn.name).strip('-') or 'stripe'}-{spec.name}-{stamp}.{format}"
    try:
        result, provenance = await ctx.queries.export(conn, spec, format, folder / filename)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        result.path,
        media_type=MEDIA_TYPES[format],
        filename=filename,
        headers={"X-Flitch-Source": provenance.source, "X-Flitch-Rows": str(result.rows)},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
