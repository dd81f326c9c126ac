"""The signed-in user's own account: who am I, my password, my API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from flitch.errors import InputError
from flitch.web.api.models import (
    ERROR_RESPONSES,
    ErrorBody,
    MeOut,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from flitch.web.auth import principal_of
from flitch.web.context import WebContext, context_of
from flitch.web.errors import Forbidden

#: The largest id SQLite can hold; larger ones cannot name a token.
SQLITE_INT_MAX = 2**63 - 1

router = APIRouter(prefix="/api/v1", tags=["account"], responses=ERROR_RESPONSES)


@router.get("/me", name="api_me", response_model=MeOut)
def me(request: Request) -> MeOut:
    """The user this request acts for."""
    principal = principal_of(request)
    user = principal.user
    return MeOut(
        **UserOut.of(user).model_dump(),
        via=principal.via,
        is_admin=user.is_admin,
        workspace=principal.membership.to_dict() if principal.membership else None,
        instance_admin=principal.instance_admin,
    )


@router.post(
    "/me/password",
    name="api_change_password",
    status_code=204,
    responses={
        429: {
            "model": ErrorBody,
            "description": "Too many wrong current passwords: counted as failed sign-ins.",
        }
    },
)
def change_password(
    body: PasswordChange, request: Request, ctx: WebContext = Depends(context_of)
) -> Response:
    """Change your own password (signs out your other sessions)."""
    user = principal_of(request).user
    # Under the sign-in limit too: a session left open must not become a way to guess at it.
    address = str(request.scope["state"]["client_address"])
    if ctx.verify(user.name, body.current_password, address) is None:
        raise InputError(
            "The current password is not right.",
            "Type the password you signed in with, then the new one.",
        )
    ctx.users.set_password(user.name, body.new_password)
    return Response(status_code=204)


@router.get("/tokens", name="api_list_tokens", response_model=list[TokenOut])
def list_tokens(request: Request, ctx: WebContext = Depends(context_of)) -> list[TokenOut]:
    """Your API tokens in this workspace (its admins see everyone's there). Secrets are never
    shown again."""
    user = principal_of(request).user
    assert ctx.tokens is not None
    tokens = ctx.tokens.list(None if user.is_admin else user.id)
    return [TokenOut.of(t) for t in tokens]


@router.post("/tokens", name="api_create_token", response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenCreate, request: Request, ctx: WebContext = Depends(context_of)
) -> TokenCreated:
    """A new API token acting as you in this workspace, from a signed-in session only (a
    token cannot make tokens). The secret is in this answer only."""
    principal = principal_of(request)
    if principal.via != "session":
        # Else a leaked token could make others that outlive its revocation.
        raise Forbidden(
            "API tokens are made by a signed-in person, not by another token.",
            "Create it on your Account page, or from a terminal with `flitch tokens create NAME`.",
        )
    user = principal.user
    assert ctx.tokens is not None
    token, secret = ctx.tokens.create(user.name, body.label)
    return TokenCreated(token=TokenOut.of(token), secret=secret)


@router.delete("/tokens/{token_id}", name="api_revoke_token", status_code=204)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=SQLITE_INT_MAX)],
    request: Request,
    ctx: WebContext = Depends(context_of),
) -> Response:
    """Revoke a token at once (yours; an admin of the workspace may revoke anyone's there)."""
    user = principal_of(request).user
    assert ctx.tokens is not None
    ctx.tokens.revoke(token_id, user_id=None if user.is_admin else user.id)
    return Response(status_code=204)
