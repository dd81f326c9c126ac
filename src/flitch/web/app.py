"""The web app factory: ``create_app(settings)`` builds a new app; nothing is global.

Pages and the JSON API (``/api/v1/``, its OpenAPI document at ``/api/v1/openapi.json``) share one
app, one access table (:mod:`flitch.web.access`) and one middleware that signs requests in and
refuses what their role does not allow (:mod:`flitch.web.auth`). Every error is answered as JSON
``{"error", "message", "fix"}`` under ``/api/`` or as an error page elsewhere, never as a
traceback; unexpected errors are logged with anything that looks like a Stripe key masked.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Mount

from flitch import __version__
from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards.storage import DashboardStore
from flitch.errors import FlitchError, InputError, NotFound
from flitch.web import userdb
from flitch.web.access import ROUTES
from flitch.web.api import (
    account,
    connections,
    customers,
    dashboard_data,
    dashboards,
    datasets,
    objects,
    refresh,
    retention,
    users,
    workspaces,
)
from flitch.web.auth import AccessControl, Guard
from flitch.web.context import WebContext
from flitch.web.health import router as health_router
from flitch.web.hosts import AllowedHosts
from flitch.web.pages import router as pages_router
from flitch.web.pages_connection import router as connection_pages_router
from flitch.web.pages_customer import router as customer_pages_router
from flitch.web.pages_dashboards import router as dashboard_pages_router
from flitch.web.pages_join import router as join_pages_router
from flitch.web.queries import DatasetQueries
from flitch.web.queued_refreshes import QueuedRefreshJobs
from flitch.web.refreshes import RefreshJobs
from flitch.web.render import Renderer
from flitch.web.sessions import SessionStore
from flitch.web.throttle import Limits, SignInThrottle
from flitch.web.users import UserStore
from flitch.workspaces import WorkspaceStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
_SECRET_LIKE = re.compile(r"\b([rsp]k_(?:live|test)_)[A-Za-z0-9]{4,}([A-Za-z0-9]{4})\b")
_TOKEN_LIKE = re.compile(r"\bflt_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """Mask anything that looks like a Stripe key or an API token (for logs)."""
    text = _SECRET_LIKE.sub(r"\1…\2", text)
    return _TOKEN_LIKE.sub("flt_…", text)


class ServerFault(FlitchError):
    """Something went wrong inside Flitch; the details are in the server's log."""


class MethodNotAllowed(InputError):
    """The path exists but does not answer this HTTP method."""


#: The order methods are listed in an ``Allow`` header.
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers at ``path``, for a 405's ``Allow`` header.

    Starlette names only the methods of the first route whose path matched, but several routes
    may share a path (``PATCH`` and ``DELETE /api/v1/users/{name}``): all of them count.
    """
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Mount):
            # The one mount serves static files, which answer GET and HEAD.
            if path.startswith(route.path + "/"):
                methods |= {"GET", "HEAD"}
            continue
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods, key=lambda m: (*METHOD_ORDER, m).index(m))


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = clocks.now,
    password_hasher: PasswordHasher | None = None,
    signin_limits: Limits | None = None,
    connection_service: ConnectionService | None = None,
    trust_proxy: bool | None = None,
) -> FastAPI:
    """A new web app serving ``settings.home``'s data.

    ``connection_service`` is what the Data pages and the API drive (built from ``settings``
    when not given, and closed with the app); ``clock``, ``password_hasher`` and
    ``signin_limits`` let tests and deployments tune time, hashing cost and the sign-in limit.
    """
    db = userdb.for_settings(settings)
    hasher = password_hasher or PasswordHasher()
    trusted = settings.trust_proxy if trust_proxy is None else trust_proxy
    renderer = Renderer()
    service = connection_service or ConnectionService(settings)
    workspace_store = WorkspaceStore(db, clock=clock)
    ctx = WebContext(
        settings=settings,
        users=UserStore(db, clock=clock, hasher=hasher),
        sessions=SessionStore(db, clock=clock),
        throttle=SignInThrottle(db, signin_limits, clock=clock),
        renderer=renderer,
        clock=clock,
        connections=service,
        queries=DatasetQueries(settings, service),
        refreshes=QueuedRefreshJobs(service) if settings.refresh_workers else RefreshJobs(service),
        workspaces=workspace_store,
    )
    app = FastAPI(
        title="Flitch API",
        version=__version__,
        description=(
            "Connections to Stripe through read-only restricted keys, their datasets, and the "
            "users of this Flitch. Authenticate with `Authorization: Bearer flt_…` (create a "
            "token with `flitch tokens create NAME` or on your Account page). Errors are "
            '`{"error", "message", "fix"}`.'
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=_lifespan(ctx, owns_service=connection_service is None),
    )
    app.state.flitch = ctx
    app.state.dashboards = DashboardStore(db)
    # Routes are added flat (not through include_router) so that ``app.routes`` lists every
    # route: the access table is checked against it, and the route-walking test reads it.
    routers = (
        health_router,
        pages_router,
        connection_pages_router,
        customer_pages_router,
        dashboard_pages_router,
        join_pages_router,
        account.router,
        users.router,
        objects.router,
        connections.router,
        datasets.router,
        refresh.router,
        dashboards.router,
        dashboard_data.router,
        retention.router,
        customers.router,
        workspaces.router,
        workspaces.pages,
    )
    for router in routers:
        app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _check_access_table(app)
    unexpected = _install_error_handlers(app, renderer)
    guard = Guard(
        ctx.users,
        ctx.sessions,
        workspace_store,
        renderer,
        hosts=AllowedHosts.of(settings),
        trust_proxy=trusted,
        on_unexpected=unexpected,
    )
    app.add_middleware(AccessControl, guard=guard)
    return app


def _lifespan(
    ctx: WebContext, *, owns_service: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.refreshes.close()
        ctx.queries.close()
        if owns_service:
            ctx.connections.close()

    return lifespan


def _check_access_table(app: FastAPI) -> None:
    """Refuse to build an app with a route the access table does not cover."""
    missing = sorted({str(getattr(r, "name", None)) for r in app.routes} - set(ROUTES))
    if missing:
        raise RuntimeError(
            f"Routes without an access rule: {', '.join(missing)}. "
            "Add each to ROUTES in flitch/web/access.py."
        )


def _install_error_handlers(
    app: FastAPI, renderer: Renderer
) -> Callable[[Request, Exception], Response]:
    """Register the error handlers; returns the one for unexpected errors."""

    async def flitch_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FlitchError)
        return renderer.error(request, exc)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for problem in exc.errors()[:5]:
            where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {problem.get('msg', 'invalid')}")
        # The values sent are never echoed: one of them may be a key or a password.
        error = InputError(
            "The request does not have the expected shape (" + "; ".join(problems) + ").",
            "Send the fields the API document describes (/api/v1/openapi.json).",
        )
        return renderer.error(request, error, status=422)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error: FlitchError
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            error = NotFound(
                "There is nothing at this address.",
                "Check the address, or start again from the Data page (/data).",
            )
        elif exc.status_code == 405:
            allow = allowed_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allow)
            error = MethodNotAllowed(
                f"This address does not answer {request.method} requests "
                f"(it answers {', '.join(allow) or 'none'}).",
                "See /api/v1/openapi.json for the methods each address answers.",
            )
        else:
            error = InputError(str(exc.detail), "Check the request and try again.")
        response = renderer.error(request, error, status=exc.status_code)
        response.headers.update(headers)
        return response

    def unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "Unexpected error on %s %s:\n%s",
            request.method,
            request.url.path,
            redact("".join(traceback.format_exception(exc))),
        )
        error = ServerFault(
            "Something went wrong inside Flitch.",
            "Try again; if it keeps happening, the server's log has the details to report.",
        )
        return renderer.error(request, error, status=500)

    app.add_exception_handler(FlitchError, flitch_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)

    async def unexpected_handler(request: Request, exc: Exception) -> Response:
        return unexpected(request, exc)

    app.add_exception_handler(Exception, unexpected_handler)
    return unexpected
