"""One customer's page as JSON: ``GET /connections/{c}/customers/{customer}``.

Its subscriptions, invoices, charges, refunds, disputes and MRR over time, each part and one
timeline of them all (:mod:`flitch.metrics.customer_timeline`). It reads the way every page
does, through the query engine: live from Stripe with refresh off (only this customer's
subscriptions, invoices and charges are listed), from the cache with refresh on, so the same
customer gets the same page either way. Parts the connection cannot read are named in
``missing`` with the datasets they need; a customer none of the read lists knows is a 404.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Path

from flitch.connections.records import ConnectionInfo, DatasetStatus
from flitch.errors import NotFound
from flitch.metrics.customer_timeline import PARTS, customer_timeline, parts_of, reads
from flitch.query.engine import Loaded
from flitch.web.api.models import ERROR_RESPONSES
from flitch.web.context import WebContext, context_of

router = APIRouter(prefix="/api/v1", tags=["customers"], responses=ERROR_RESPONSES)

Ctx = Annotated[WebContext, Depends(context_of)]

#: A Stripe customer id (what a list's ``customer`` filter takes).
CUSTOMER_ID = r"^cus_[A-Za-z0-9_]{1,250}$"


def readable(conn: ConnectionInfo) -> list[str]:
    """The datasets of ``conn`` its key may read."""
    return [d.object for d in conn.datasets if d.status is not DatasetStatus.MISSING_PERMISSION]


def _page(loaded: Loaded, customer: str, parts: list[str]) -> dict[str, Any]:
    try:
        return customer_timeline(loaded, customer, parts)
    finally:
        loaded.close()


def _known(page: dict[str, Any]) -> bool:
    return any(page.get(p) for p in ("subscriptions", "invoices", "charges"))


@router.get("/connections/{connection}/customers/{customer}", name="api_customer")
async def customer_page(
    connection: str,
    ctx: Ctx,
    customer: Annotated[str, Path(pattern=CUSTOMER_ID, description="The customer's id.")],
) -> dict[str, Any]:
    """One customer's subscriptions, invoices, charges, refunds, disputes and MRR over time,
    and ``timeline``: all of them, oldest first."""
    conn = ctx.connections.get(connection)
    parts, missing = parts_of(readable(conn))
    if not parts:
        raise NotFound(
            f"The connection {conn.name!r} reads none of what a customer's page shows.",
            "Pick Subscriptions, Invoices or Charges for it on the Data page.",
        )
    loaded = await ctx.queries.load(conn, reads(customer, parts))
    provenance = loaded.provenance.to_dict()
    page = await anyio.to_thread.run_sync(partial(_page, loaded, customer, parts))
    if not _known(page):
        raise NotFound(
            f"No subscription, invoice or charge of {customer} in {conn.name!r}.",
            "Check the id (Stripe's customer ids start with cus_), or refresh the cache.",
        )
    return {
        "connection_id": conn.id,
        **page,
        "missing": [{"part": p, "needs": list(PARTS[p])} for p in missing],
        "data": provenance,
    }
