"""A customer's page: one customer's subscriptions, invoices, charges, refunds, disputes and
MRR over time on one timeline, drawn in the browser (``static/customer.js``) from
``GET /api/v1/connections/{c}/customers/{customer}``. Every customer id the web app shows links
here (``static/customer_links.js``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from flitch.dashboards.terminal import ZERO_DECIMAL
from flitch.errors import NotFound
from flitch.web.context import WebContext, context_of
from flitch.web.pages_connection import gone_page

router = APIRouter(include_in_schema=False)

Ctx = Annotated[WebContext, Depends(context_of)]


@router.get("/data/{connection_id}/customers/{customer}", name="customer_page")
def customer_page(connection_id: str, customer: str, request: Request, ctx: Ctx) -> Response:
    try:
        conn = ctx.connections.get(connection_id)
    except NotFound:
        return gone_page(request, ctx, connection_id)
    context = {
        "connection": conn.to_dict(),
        "customer": customer[:256],
        "zero_decimal": ",".join(sorted(ZERO_DECIMAL)),
    }
    return ctx.renderer.page(request, "customer.html", context)
