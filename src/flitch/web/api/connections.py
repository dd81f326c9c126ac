"""Connections to Stripe: test a key, save a connection, change it, delete it.

The key travels in request bodies only, to be tested or sealed; no answer carries it back, only
its masked form (``rk_live_…wxyz``). Reading a connection is open to every signed-in user;
everything else is for admins (see :mod:`flitch.web.access`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictBool

from flitch.connections.service import ConnectionService
from flitch.web.api.models import ERROR_RESPONSES
from flitch.web.context import WebContext, context_of

router = APIRouter(prefix="/api/v1", tags=["connections"], responses=ERROR_RESPONSES)

KEY_FIELD = Field(
    max_length=4096,
    description="A read-only restricted key (rk_live_… or rk_test_…). Never sent back.",
)
OBJECTS_FIELD = Field(
    default=None,
    max_length=50,
    description="Object names to read (see /api/v1/objects); all of them when left out.",
)


class KeyTest(BaseModel):
    key: str = KEY_FIELD
    objects: list[str] | None = OBJECTS_FIELD


class ConnectionCreate(BaseModel):
    name: str = Field(max_length=200, description="A name for the connection, unique.")
    key: str = KEY_FIELD
    objects: list[str] | None = OBJECTS_FIELD
    refresh: str = Field(
        default="off",
        max_length=20,
        description="off (dashboards query Stripe live; the default), or 15m, 30m, 1h, 6h, "
        "12h, 1d (a background refresh fills a cache).",
    )


class ObjectsTest(BaseModel):
    objects: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Object names to test (see /api/v1/objects), picked or not; all of them "
        "when left out.",
    )


class ConnectionUpdate(BaseModel):
    key: str | None = Field(default=None, max_length=4096, description="A new restricted key.")
    switch_mode: StrictBool = Field(
        default=False,
        description="Accept a key of the other mode (its cached data of the old mode is deleted).",
    )
    objects: list[str] | None = OBJECTS_FIELD
    refresh: str | None = Field(default=None, max_length=20)


def _service(ctx: WebContext) -> ConnectionService:
    return ctx.connections


@router.get("/connections", name="api_list_connections", response_model=list[dict[str, Any]])
def list_connections(ctx: WebContext = Depends(context_of)) -> list[dict[str, Any]]:
    """Every saved connection with its datasets (each picked object is one)."""
    return [info.to_dict() for info in _service(ctx).list()]


@router.get("/connections/{connection}", name="api_get_connection", response_model=dict[str, Any])
def get_connection(connection: str, ctx: WebContext = Depends(context_of)) -> dict[str, Any]:
    """One connection, by id or by name."""
    info = _service(ctx).get(connection)
    result: dict[str, Any] = info.to_dict()
    return result


@router.post("/connections/test", name="api_test_key", response_model=dict[str, Any])
def try_key(body: KeyTest, ctx: WebContext = Depends(context_of)) -> dict[str, Any]:
    """Test a key before saving it: does Stripe accept it, and which objects can it read?

    Nothing is saved. A secret or publishable key is refused before any request is sent.
    """
    report = _service(ctx).test_key(body.key, body.objects)
    result: dict[str, Any] = report.to_dict()
    return result


@router.post(
    "/connections",
    name="api_create_connection",
    response_model=dict[str, Any],
    status_code=201,
)
def create_connection(
    body: ConnectionCreate, ctx: WebContext = Depends(context_of)
) -> dict[str, Any]:
    """Test the key again and save the connection; each picked object becomes a dataset.

    Objects the key cannot read are saved as blocked, with the fix, and start working once
    the key is granted Read on them.
    """
    saved = _service(ctx).create(body.name, body.key, body.objects, body.refresh)
    result: dict[str, Any] = saved.to_dict()
    return result


@router.post(
    "/connections/{connection}/test",
    name="api_retest_connection",
    response_model=dict[str, Any],
)
def retest_connection(connection: str, ctx: WebContext = Depends(context_of)) -> dict[str, Any]:
    """Test a saved connection's key again and record what it can read now."""
    result: dict[str, Any] = _service(ctx).retest(connection).to_dict()
    return result


@router.post(
    "/connections/{connection}/objects/test",
    name="api_test_objects",
    response_model=dict[str, Any],
)
def probe_objects(
    connection: str, body: ObjectsTest, ctx: WebContext = Depends(context_of)
) -> dict[str, Any]:
    """Test which objects the saved key can read, picked or not, before changing the picked
    ones (``PATCH`` with ``objects``). Nothing is saved: the answer is the key test's report."""
    service = _service(ctx)
    info = service.get(connection)
    report = service.test_key(service.key_for(info.id), body.objects)
    result: dict[str, Any] = report.to_dict()
    return result


@router.patch(
    "/connections/{connection}", name="api_update_connection", response_model=dict[str, Any]
)
def update_connection(
    connection: str, body: ConnectionUpdate, ctx: WebContext = Depends(context_of)
) -> dict[str, Any]:
    """Replace the key (after a deleted or rolled key), change the objects, or the refresh."""
    service = _service(ctx)
    info = service.get(connection)
    probe: dict[str, Any] | None = None
    if body.key is not None:
        if body.switch_mode:
            ctx.queries.forget(info.id)  # the old mode's cache is deleted
        saved = service.update_key(info.id, body.key, switch_mode=body.switch_mode)
        probe = saved.probe.to_dict()
    if body.objects is not None:
        saved = service.set_objects(info.id, body.objects)
        probe = saved.probe.to_dict()
    if body.refresh is not None:
        service.set_refresh(info.id, body.refresh)
    return {"connection": service.get(info.id).to_dict(), "probe": probe}


@router.delete(
    "/connections/{connection}", name="api_delete_connection", response_model=dict[str, Any]
)
def delete_connection(connection: str, ctx: WebContext = Depends(context_of)) -> dict[str, Any]:
    """Delete the connection and its cached data. Then delete the key in Stripe, too."""
    info = _service(ctx).get(connection)
    # A refresh started here is stopped and the cache reader closed, so the cache can go.
    ctx.refreshes.stop(info.id)
    ctx.queries.forget(info.id)
    result: dict[str, Any] = _service(ctx).delete(info.id).to_dict()
    return result
