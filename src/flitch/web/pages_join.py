"""Joining a workspace by invitation without an account yet (``/join?code=…``), and, when
``FLITCH_SIGNUP=1``, signing up with a workspace of one's own (``/signup``).

An owner's invitation code (``POST /api/v1/workspace/invitations``) is all a newcomer needs:
the page asks for the code, a name and a password, creates the account (no role on the
instance) and spends the code, which makes the account a member of the code's workspace with
its role. A code that is not valid is refused before anything else is looked at or hashed.
Someone already signed in joins with ``POST /api/v1/workspaces/join`` instead.

Sign-up is off unless the setting says so (then ``/signup`` answers 404, as for a page that
does not exist): it makes the account (no role on the instance) and a new workspace it owns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from flitch.errors import FlitchError, InputError, NotFound
from flitch.web.context import WebContext, context_of
from flitch.web.errors import status_for
from flitch.web.pages import _signed_in, require_same_passwords
from flitch.web.users import Role, User
from flitch.workspaces.model import check_name

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(context_of)]
INVALID = InputError(
    "That invitation code is not valid: it was used already, it expired, or it was mistyped.",
    "Ask an owner of the workspace for a new code.",
)


def _account_in(
    ctx: WebContext, name: str, password: str, enter: Callable[[int], str]
) -> tuple[User, str]:
    """Make an account with no role on the instance and put it in a workspace: ``enter`` is
    given the new user's id and answers the workspace's. When ``enter`` fails the account is
    deleted again, so that none is left without a workspace."""
    user = ctx.users.add(name, password, Role.VIEWER, workspace_id=None)
    try:
        workspace_id = enter(user.id)
    except FlitchError:
        ctx.users.delete(user.name)
        raise
    return user, workspace_id


def _signed_in_to(request: Request, ctx: WebContext, user: User, workspace_id: str) -> Response:
    """Sign the new account in, acting in the workspace it was put in."""
    secret, _ = ctx.sessions.create(user)
    ctx.sessions.switch(secret, workspace_id)
    return _signed_in(request, secret, "/data")


@router.get("/join", name="join_page")
def join_page(request: Request, ctx: Ctx, code: str = "") -> Response:
    return ctx.renderer.page(request, "join.html", {"name": "", "code": code[:64]})


@router.post("/join", name="join")
def join(
    request: Request,
    ctx: Ctx,
    code: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    password_again: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        if not ctx.workspaces.is_valid(code):
            raise INVALID
        require_same_passwords(password, password_again)
        # the code may be spent by someone else meanwhile
        user, workspace_id = _account_in(
            ctx, name, password, lambda user_id: ctx.workspaces.accept(code, user_id).workspace.id
        )
    except FlitchError as error:
        context = {"name": name, "code": code[:64], "error": error}
        return ctx.renderer.page(request, "join.html", context, status_for(error))
    return _signed_in_to(request, ctx, user, workspace_id)


def _signup_open(ctx: WebContext) -> None:
    if not ctx.settings.signup:
        raise NotFound(
            "There is nothing at this address.",
            "Ask an admin of this Flitch for an account, or an owner of a workspace for an "
            "invitation.",
        )


@router.get("/signup", name="signup_page")
def signup_page(request: Request, ctx: Ctx) -> Response:
    _signup_open(ctx)
    return ctx.renderer.page(request, "signup.html", {"name": "", "workspace": ""})


@router.post("/signup", name="signup")
def signup(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=200)] = "",
    workspace: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    password_again: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _signup_open(ctx)
    try:
        require_same_passwords(password, password_again)
        check_name(workspace)
        # the workspace's name may be taken meanwhile
        user, workspace_id = _account_in(
            ctx,
            name,
            password,
            lambda user_id: ctx.workspaces.create(workspace, owner_id=user_id).id,
        )
    except FlitchError as error:
        context = {"name": name, "workspace": workspace, "error": error}
        return ctx.renderer.page(request, "signup.html", context, status_for(error))
    return _signed_in_to(request, ctx, user, workspace_id)
