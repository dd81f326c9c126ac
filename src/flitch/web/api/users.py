"""Managing users (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from flitch.web.api.models import ERROR_RESPONSES, UserCreate, UserOut, UserUpdate, UserUpdated
from flitch.web.context import WebContext, context_of
from flitch.workspaces import NO_WORKSPACE


def _joined(ctx: WebContext) -> str | None:
    """The workspace a user made or changed here joins: the request's (none if it has none)."""
    return None if ctx.workspace_id in (None, NO_WORKSPACE) else ctx.workspace_id


router = APIRouter(prefix="/api/v1", tags=["users"], responses=ERROR_RESPONSES)


@router.get("/users", name="api_list_users", response_model=list[UserOut])
def list_users(ctx: WebContext = Depends(context_of)) -> list[UserOut]:
    """Every user with their role."""
    return [UserOut.of(u) for u in ctx.users.list_users()]


@router.post("/users", name="api_create_user", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, ctx: WebContext = Depends(context_of)) -> UserOut:
    """Add a user (an admin manages connections and users; a viewer sees data): they join
    the workspace this request acts in with that role (an admin as an owner)."""
    return UserOut.of(ctx.users.add(body.name, body.password, body.role, workspace_id=_joined(ctx)))


@router.patch("/users/{name}", name="api_update_user", response_model=UserUpdated)
def update_user(name: str, body: UserUpdate, ctx: WebContext = Depends(context_of)) -> UserUpdated:
    """Change a user's role or set a new password (which signs them out everywhere). Either
    also revokes the user's API tokens unless ``revoke_tokens`` is false."""
    user = ctx.users.get(name)
    revoked = 0
    if body.password is not None:
        revoked += ctx.users.set_password(
            user.name, body.password, revoke_tokens=body.revoke_tokens
        )
    if body.role is not None:
        user, ended = ctx.users.set_role(
            user.name,
            body.role,
            revoke_tokens=body.revoke_tokens,
            workspace_id=_joined(ctx),
        )
        revoked += ended
    return UserUpdated(**UserOut.of(user).model_dump(), tokens_revoked=revoked)


@router.delete("/users/{name}", name="api_delete_user", status_code=204)
def delete_user(name: str, ctx: WebContext = Depends(context_of)) -> Response:
    """Delete a user with their sessions and tokens (never the last admin)."""
    ctx.users.delete(name)
    return Response(status_code=204)
