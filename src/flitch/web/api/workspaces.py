"""Workspaces in the API: yours, switching between them, joining one, and its members.

A request acts in one workspace: an API token in the one it was made in, a session in the one
it last switched to (else the user's first). ``/workspace/…`` (singular) is that workspace;
``/workspaces`` lists yours. Anything of a workspace you do not belong to answers 404, the same
as what does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from pydantic import BaseModel, Field, StrictBool
from starlette.responses import RedirectResponse

from flitch.errors import InputError, NotFound
from flitch.web.api.models import ERROR_RESPONSES, iso
from flitch.web.auth import Principal, principal_of
from flitch.web.context import WebContext, context_of
from flitch.web.errors import Forbidden
from flitch.workspaces import Member, Role, WorkspaceStore, deletion

router = APIRouter(prefix="/api/v1", tags=["workspaces"], responses=ERROR_RESPONSES)
pages = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(context_of)]


class WorkspaceCreate(BaseModel):
    name: str = Field(max_length=200, description="1 to 64 letters, digits, spaces, - _ .")


class WorkspaceChoice(BaseModel):
    workspace: str = Field(max_length=200, description="The id (ws_…) or name of one of yours.")


class InviteCreate(BaseModel):
    role: Role = Field(default=Role.VIEWER, description="The role the code gives: admin or viewer.")


class InviteCode(BaseModel):
    code: str = Field(max_length=200, description="The invitation code an owner gave you.")


class WorkspaceDeletion(BaseModel):
    confirm: str = Field(max_length=200, description="The workspace's name, typed again.")


class MemberUpdate(BaseModel):
    role: Role | None = None
    owner: StrictBool | None = Field(default=None, description="Owners invite and manage members.")


def _store(ctx: WebContext) -> WorkspaceStore:
    return ctx.workspaces


def _mine(ctx: WebContext, principal: Principal, wanted: str) -> str:
    """The id of one of the user's workspaces by id or name; else 404 (as if none existed)."""
    key = wanted.strip().casefold()
    for m in _store(ctx).memberships(principal.user.id):
        if key in (m.workspace.id, m.workspace.name.casefold()):
            return m.workspace.id
    raise NotFound(
        f"You belong to no workspace called {wanted[:64]!r}.",
        "List yours with GET /api/v1/workspaces.",
    )


def _owner(principal: Principal) -> None:
    if not principal.is_owner:
        raise Forbidden(
            "Only an owner of this workspace can do this.",
            "Ask an owner of the workspace (they invite, change roles and remove members).",
        )


def _member(ctx: WebContext, workspace_id: str, name: str) -> Member:
    for m in _store(ctx).members(workspace_id):
        if m.name.casefold() == name.strip().casefold():
            return m
    raise NotFound(
        f"{name[:64]!r} is not a member of this workspace.",
        "List the members with GET /api/v1/workspace/members.",
    )


@router.get("/workspaces", name="api_list_workspaces", response_model=list[dict[str, Any]])
def list_workspaces(request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    """The workspaces you belong to, with your role in each; ``current`` marks this request's."""
    principal = principal_of(request)
    return [
        {**m.to_dict(), "current": m.workspace.id == principal.workspace_id}
        for m in _store(ctx).memberships(principal.user.id)
    ]


@router.post(
    "/workspaces", name="api_create_workspace", response_model=dict[str, Any], status_code=201
)
def create_workspace(body: WorkspaceCreate, request: Request, ctx: Ctx) -> dict[str, Any]:
    """A new, empty workspace (admins of the instance); you become its owner."""
    made = _store(ctx).create(body.name, owner_id=principal_of(request).user.id)
    return {**made.to_dict(), "role": Role.ADMIN.value, "owner": True}


@router.get("/workspaces/usage", name="api_workspace_usage", response_model=list[dict[str, Any]])
def workspace_usage(ctx: Ctx) -> list[dict[str, Any]]:
    """Every workspace's usage (admins of the instance): members, connections, cached rows,
    the last refresh and the Stripe requests of refreshes. Counts only, never the data."""
    return [{**u, "last_refresh_at": iso(u["last_refresh_at"])} for u in _store(ctx).usage()]


@router.put("/workspace", name="api_switch_workspace", response_model=dict[str, Any])
def switch_workspace(body: WorkspaceChoice, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Make one of your workspaces the one this session acts in (a token keeps its own)."""
    principal = principal_of(request)
    if principal.session_secret is None:
        raise InputError(
            "An API token acts in the workspace it was made in; it cannot switch.",
            "Make a token in the other workspace (switch there on the Account page first).",
        )
    workspace_id = _mine(ctx, principal, body.workspace)
    ctx.sessions.switch(principal.session_secret, workspace_id)
    found = _store(ctx).membership(principal.user.id, workspace_id, fallback=False)
    assert found is not None
    return found.to_dict()


@router.post("/workspaces/join", name="api_join_workspace", response_model=dict[str, Any])
def join_workspace(body: InviteCode, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Join a workspace with an invitation code (each code works once); a session switches
    to it."""
    principal = principal_of(request)
    joined = _store(ctx).accept(body.code, principal.user.id)
    if principal.session_secret is not None:
        ctx.sessions.switch(principal.session_secret, joined.workspace.id)
    return joined.to_dict()


@router.get("/workspace/members", name="api_list_members", response_model=list[dict[str, Any]])
def list_members(ctx: Ctx) -> list[dict[str, Any]]:
    """This workspace's members with their roles (its admins)."""
    assert ctx.workspace_id is not None
    return [m.to_dict() for m in _store(ctx).members(ctx.workspace_id)]


@router.post(
    "/workspace/invitations",
    name="api_invite_member",
    response_model=dict[str, Any],
    status_code=201,
)
def invite_member(body: InviteCreate, request: Request, ctx: Ctx) -> dict[str, Any]:
    """A one-time invitation code to this workspace (owners): shown in this answer only;
    whoever signs in and sends it to POST /api/v1/workspaces/join becomes a member."""
    principal = principal_of(request)
    _owner(principal)
    assert ctx.workspace_id is not None
    code, expires = _store(ctx).invite(ctx.workspace_id, body.role, by=principal.user.id)
    return {
        "code": code,
        "role": body.role.value,
        "expires_at": iso(expires),
        "link": f"/join?code={code}",
    }


@router.patch("/workspace/members/{name}", name="api_update_member", response_model=dict[str, Any])
def update_member(name: str, body: MemberUpdate, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Change a member's role or owner flag (owners; the last owner stays one)."""
    _owner(principal_of(request))
    assert ctx.workspace_id is not None
    member = _member(ctx, ctx.workspace_id, name)
    role = body.role or (Role.ADMIN if body.owner else member.role)
    _store(ctx).set_role(ctx.workspace_id, member.user_id, role, owner=body.owner)
    return _member(ctx, ctx.workspace_id, name).to_dict()


@router.delete("/workspace/members/{name}", name="api_remove_member", status_code=204)
def remove_member(name: str, request: Request, ctx: Ctx) -> Response:
    """Remove a member (owners), or leave (yourself); the last owner cannot leave. Their API
    tokens of this workspace end with it."""
    principal = principal_of(request)
    assert ctx.workspace_id is not None
    member = _member(ctx, ctx.workspace_id, name)
    if member.user_id != principal.user.id:
        _owner(principal)
    _store(ctx).remove(ctx.workspace_id, member.user_id)
    return Response(status_code=204)


@router.delete("/workspace", name="api_delete_workspace", response_model=dict[str, Any])
def delete_workspace(body: WorkspaceDeletion, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Delete this workspace (owners) after its name is typed again: each connection as
    disconnect deletes one (key, rows, cache), then its members, invitations, tokens and
    dashboards. Then delete the keys themselves in Stripe, too."""
    _owner(principal_of(request))
    assert ctx.workspace_id is not None

    def let_go(connection_id: str) -> None:
        ctx.refreshes.stop(connection_id)
        ctx.queries.forget(connection_id)

    done = deletion.delete_workspace(
        ctx.connections, _store(ctx), ctx.workspace_id, body.confirm, before_each=let_go
    )
    return done.to_dict()


@pages.post("/workspace", name="workspace_switch")
def switch_from_page(
    request: Request, ctx: Ctx, workspace: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """The header's workspace switcher (a form): switch, then show the Data page."""
    switch_workspace(WorkspaceChoice(workspace=workspace), request, ctx)
    return RedirectResponse("/data", status_code=303)
