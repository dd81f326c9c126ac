"""The HTML pages. They show what the JSON API returns and act through it (``static/app.js``);
only signing in, first-run setup and signing out are plain form posts, so they work without
JavaScript and set the session cookie directly.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from flitch.errors import FlitchError, InputError
from flitch.web import setup_code as setup_codes
from flitch.web import troubleshoot
from flitch.web.api.models import iso
from flitch.web.api.objects import object_list
from flitch.web.auth import SESSION_COOKIE, cookie_header, principal_of
from flitch.web.context import WebContext, context_of
from flitch.web.errors import Conflict, NotSignedIn, TooManyAttempts, status_for
from flitch.web.sessions import LIFETIME, Session
from flitch.web.users import Role

router = APIRouter(include_in_schema=False)

Ctx = Annotated[WebContext, Depends(context_of)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/data"
    return target


def require_same_passwords(password: str, password_again: str) -> None:
    """A form that makes an account asks for its password twice: the two must match."""
    if password != password_again:
        raise InputError(
            "The two passwords are not the same.", "Type the same password in both fields."
        )


def _signed_in(request: Request, session_secret: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    secure = bool(request.scope.get("state", {}).get("secure"))
    cookie = cookie_header(SESSION_COOKIE, session_secret, secure=secure, max_age=int(LIFETIME))
    response.raw_headers.append((b"set-cookie", cookie))
    return response


@router.get("/", name="home")
def home() -> Response:
    return RedirectResponse("/data", status_code=303)


@router.get("/signin", name="signin_page")
def signin_page(request: Request, ctx: Ctx, next: str = "/data") -> Response:
    if request.scope["state"].get("principal") is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    if ctx.users.count() == 0:
        return RedirectResponse("/setup", status_code=303)
    return ctx.renderer.page(request, "signin.html", {"next": safe_next(next), "name": ""})


@router.post("/signin", name="signin")
def signin(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/data",
) -> Response:
    address = str(request.scope["state"]["client_address"])
    try:
        secret, _session = ctx.sign_in(name, password, address)
    except (NotSignedIn, TooManyAttempts) as error:
        context = {"next": safe_next(next), "name": name, "error": error}
        response = ctx.renderer.page(request, "signin.html", context, status_for(error))
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(int(error.retry_after) + 1)
        return response
    return _signed_in(request, secret, safe_next(next))


@router.get("/setup", name="setup_page")
def setup_page(request: Request, ctx: Ctx, code: str = "") -> Response:
    # The link `flitch serve` prints carries the code; it is only filled in, never trusted here.
    return ctx.renderer.page(request, "setup.html", {"name": "", "code": code[:64]})


@router.post("/setup", name="setup")
def setup(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    password_again: Annotated[str, Form(max_length=2000)] = "",
    setup_code: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        # The code first: without it, nothing else about the form is worth saying.
        if not setup_codes.matches(ctx.users.db, setup_code):
            raise setup_codes.SetupCodeRefused()
        require_same_passwords(password, password_again)
        user = ctx.users.add(name, password, Role.ADMIN, only_if_none=True, code=setup_code)
    except Conflict:
        return RedirectResponse("/signin", status_code=303)
    except FlitchError as error:
        context = {"name": name, "code": setup_code[:64], "error": error}
        return ctx.renderer.page(request, "setup.html", context, status_for(error))
    session: tuple[str, Session] = ctx.sessions.create(user)
    return _signed_in(request, session[0], "/data")


@router.post("/signout", name="signout")
def signout(request: Request, ctx: Ctx) -> Response:
    principal = principal_of(request)
    if principal.session_secret:
        ctx.sessions.delete(principal.session_secret)
    response = RedirectResponse("/signin", status_code=303)
    secure = bool(request.scope["state"].get("secure"))
    response.raw_headers.append(
        (b"set-cookie", cookie_header(SESSION_COOKIE, "", secure=secure, max_age=0))
    )
    return response


@router.get("/data", name="data_page")
def data_page(request: Request, ctx: Ctx, deleted: str | None = None) -> Response:
    listed = []
    for info in ctx.connections.list():
        item = info.to_dict()
        problems = troubleshoot.of_connection(info)
        item["problem"] = problems[0].to_dict() if problems else None
        listed.append(item)
    context = {"connections": listed, "deleted": (deleted or "")[:64]}
    return ctx.renderer.page(request, "data.html", context)


@router.get("/data/new", name="connection_new_page")
def connection_new_page(request: Request, ctx: Ctx) -> Response:
    context = {"objects": [o.model_dump() for o in object_list()]}
    return ctx.renderer.page(request, "connection_new.html", context)


@router.get("/account", name="account_page")
def account_page(request: Request, ctx: Ctx) -> Response:
    user = principal_of(request).user
    assert ctx.tokens is not None
    tokens = ctx.tokens.list(user.id)
    members = ctx.workspaces.members(ctx.workspace_id or "") if user.is_admin else []
    context = {"tokens": tokens, "iso": iso, "members": members}
    return ctx.renderer.page(request, "account.html", context)


@router.get("/users", name="users_page")
def users_page(request: Request, ctx: Ctx) -> Response:
    context = {
        "users": ctx.users.list_users(),
        "token_counts": ctx.users.token_counts(),
        "usage": ctx.workspaces.usage(),
        "iso": iso,
    }
    return ctx.renderer.page(request, "users.html", context)
