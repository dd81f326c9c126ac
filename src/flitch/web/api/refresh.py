"""Refresh now: start a background refresh of a connection and follow its progress.

Starting one is for admins; following one is open to every signed-in user. The refresh setting
itself (off, or an interval) is changed with ``PATCH /api/v1/connections/{connection}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from flitch.web.api.dataset_models import RefreshJobOut, RefreshStart, RefreshState
from flitch.web.api.models import ERROR_RESPONSES
from flitch.web.context import WebContext, context_of

router = APIRouter(prefix="/api/v1", tags=["refresh"], responses=ERROR_RESPONSES)

Ctx = Annotated[WebContext, Depends(context_of)]


@router.post(
    "/connections/{connection}/refresh",
    name="api_start_refresh",
    response_model=RefreshJobOut,
    status_code=202,
)
def start_refresh(
    connection: str, ctx: Ctx, body: Annotated[RefreshStart | None, Body()] = None
) -> RefreshJobOut:
    """Start refreshing the connection in the background; poll the answer's id for progress.

    Only what changed is read when the cache allows it; ``full`` reads everything again.
    Refused (409) while a refresh of the connection started here is still running.
    """
    conn = ctx.connections.get(connection)
    job = ctx.refreshes.start(conn, full=body.full if body is not None else False)
    return RefreshJobOut.model_validate(job.to_dict())


@router.get(
    "/connections/{connection}/refresh", name="api_refresh_state", response_model=RefreshState
)
def refresh_state(connection: str, ctx: Ctx) -> RefreshState:
    """The connection's newest refresh started here (if any) and its newest recorded run."""
    conn = ctx.connections.get(connection)
    job = ctx.refreshes.latest(conn.id)
    return RefreshState(
        job=RefreshJobOut.model_validate(job.to_dict()) if job is not None else None,
        last_run=conn.last_run.to_dict() if conn.last_run is not None else None,
    )


@router.get("/refreshes/{job_id}", name="api_refresh_progress", response_model=RefreshJobOut)
def refresh_progress(job_id: Annotated[str, Path(max_length=64)], ctx: Ctx) -> RefreshJobOut:
    """A refresh's progress: per object the records read, pages, rate, elapsed time, state."""
    return RefreshJobOut.model_validate(ctx.refreshes.get(job_id).to_dict())
