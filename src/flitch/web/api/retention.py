"""The customers behind a cell of a cohort table, or a bar of the MRR movements waterfall.

A cell of the Retention dashboard's cohort heatmap is a cohort (the month its customers first
became subscribers), a currency and a number of months since: ``GET
/connections/{c}/cohorts/{currency}/{cohort}/{k}`` lists the cohort's customers with their MRR
at the end of month 0 and of month k. ``GET /connections/{c}/movements/{currency}/{movement}``
lists the customers who made one movement of the waterfall, with their MRR before and after.
Both read the way the dashboard did (live, or from the cache), so the list adds up to the
number clicked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query

from flitch.errors import InputError
from flitch.metrics.compute import reads_for
from flitch.metrics.movement_customers import movement_customers
from flitch.metrics.movements import MRR_MOVEMENTS
from flitch.metrics.retention import MAX_MONTHS, MRR_COHORTS, cohort_members
from flitch.query.engine import Loaded
from flitch.web.api.dashboard_data import period_of
from flitch.web.api.models import ERROR_RESPONSES
from flitch.web.context import WebContext, context_of

router = APIRouter(prefix="/api/v1", tags=["dashboards"], responses=ERROR_RESPONSES)

Ctx = Annotated[WebContext, Depends(context_of)]


def _members(loaded: Loaded, currency: str, cohort: int, k: int, end: int) -> list[dict[str, Any]]:
    try:
        return cohort_members(loaded, currency, cohort, k, end)
    finally:
        loaded.close()


@router.get("/connections/{connection}/cohorts/{currency}/{cohort}/{k}", name="api_cohort_members")
async def cohort_customers(
    connection: str,
    ctx: Ctx,
    currency: Annotated[str, Path(pattern=r"^[a-z]{3}$", description="The cohort's currency.")],
    cohort: Annotated[date, Path(description="The cohort's month (its first day).")],
    k: Annotated[int, Path(ge=0, le=MAX_MONTHS, description="Months since the cohort's.")],
    start: Annotated[date | None, Query(alias="from", description="First day.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included.")] = None,
) -> dict[str, Any]:
    """The cohort's customers, biggest MRR at month k first, each with their MRR at the end
    of month 0 and of month k (the period's end, if that month is not over by then)."""
    if cohort.day != 1:
        raise InputError(
            f"{cohort.isoformat()} does not start a month.",
            "Name the cohort by its month's first day, e.g. 2026-01-01.",
        )
    conn = ctx.connections.get(connection)
    period, _ = period_of(ctx, None, start, end, "month")
    month = int(datetime(cohort.year, cohort.month, 1, tzinfo=UTC).timestamp())
    loaded = await ctx.queries.load(conn, reads_for([MRR_COHORTS], period.start, period.end))
    rows = await anyio.to_thread.run_sync(partial(_members, loaded, currency, month, k, period.end))
    return {
        "connection_id": conn.id,
        "currency": currency,
        "cohort": cohort.isoformat(),
        "months_since": k,
        "period": period.to_dict(),
        "customers": [
            {
                "customer": r["customer"],
                "first_paid": r["first_at"],
                "mrr_start": r["mrr_start"],
                "mrr": r["mrr"],
            }
            for r in rows
        ],
        "data": loaded.provenance.to_dict(),
    }


def _movers(
    loaded: Loaded, start: int, end: int, grain: str, currency: str, movement: str
) -> list[dict[str, Any]]:
    try:
        return movement_customers(loaded, start, end, grain, currency, movement)
    finally:
        loaded.close()


@router.get(
    "/connections/{connection}/movements/{currency}/{movement}", name="api_movement_customers"
)
async def movement_customers_of(
    connection: str,
    ctx: Ctx,
    currency: Annotated[str, Path(pattern=r"^[a-z]{3}$", description="The bar's currency.")],
    movement: Literal["new", "expansion", "reactivation", "contraction", "churned"],
    start: Annotated[date | None, Query(alias="from", description="First day.")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day, included.")] = None,
    grain: Annotated[
        Literal["week", "month"], Query(description="The waterfall's grain (its JSON's grain).")
    ] = "week",
) -> dict[str, Any]:
    """The customers who made one movement of the waterfall over the period, biggest change
    first: when (the bucket of ``grain`` it happened in), their MRR before and after."""
    conn = ctx.connections.get(connection)
    period, _ = period_of(ctx, None, start, end, grain)
    loaded = await ctx.queries.load(conn, reads_for([MRR_MOVEMENTS], period.start, period.end))
    rows = await anyio.to_thread.run_sync(
        partial(_movers, loaded, period.start, period.end, grain, currency, movement)
    )
    return {
        "connection_id": conn.id,
        "currency": currency,
        "movement": movement,
        "grain": grain,
        "period": period.to_dict(),
        "customers": [
            {
                "customer": r["customer"],
                "bucket": r["bucket"],
                "mrr_before": r["mrr_before"],
                "mrr_after": r["mrr_after"],
                "change": r["change"],
            }
            for r in rows
        ],
        "data": loaded.provenance.to_dict(),
    }
