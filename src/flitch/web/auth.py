"""Authentication and access control for every request, in one ASGI middleware.

For each HTTP request the middleware:

0. refuses a ``Host`` the server was not asked to serve (:mod:`flitch.web.hosts`: DNS
   rebinding), with 400 and the setting that allows it;
1. finds the route the request is for, and that route's rule in :mod:`flitch.web.access`;
2. authenticates it: an ``Authorization: Bearer flt_…`` API token, or the session cookie, and
   resolves the workspace it acts in (the token's own; the session's chosen one, else the
   user's first);
3. refuses what the rule does not allow — anonymous requests get 401 (the API) or a redirect to
   the sign-in page (pages); viewers get 403 on admin routes; first-run setup answers only while
   no user exists, and while none does every page leads to it;
   (admin routes: an admin of the request's workspace; instance-admin routes: of the instance);
4. checks the anti-forgery token on requests that change something (:mod:`flitch.web.csrf`);
5. hands the request on with ``request.state.principal`` (whose workspace every lookup of the
   request is bound to: :mod:`flitch.web.tenancy`) and ``request.state.csrf_token`` set,
   and adds the anonymous anti-forgery cookie and security headers to the response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match

from flitch.errors import FlitchError
from flitch.web import csrf
from flitch.web.access import Access, access_of
from flitch.web.errors import Conflict, CsrfRejected, Forbidden, NotSignedIn
from flitch.web.hosts import AllowedHosts, HostNotAllowed
from flitch.web.render import Renderer, is_api
from flitch.web.sessions import SessionStore
from flitch.web.users import User, UserStore
from flitch.workspaces import NO_WORKSPACE, Membership, Role, WorkspaceStore

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "flitch_session"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, in which workspace, and how they proved it."""

    #: the user, with their role *in the request's workspace* as ``role`` (viewer in none)
    user: User
    via: Literal["session", "token"]
    #: the session cookie's value (to sign out); None for a token
    session_secret: str | None = None
    #: the session's anti-forgery token; None for a token
    csrf_token: str | None = None
    #: the workspace the request acts in (a token's own; a session's chosen or first one)
    membership: Membership | None = None
    #: whether the user is an admin of the instance (accounts, creating workspaces)
    instance_admin: bool = False
    #: every workspace the user belongs to (a session's, for the header's switcher)
    workspaces: tuple[Membership, ...] = ()

    @property
    def workspace_id(self) -> str:
        """The id every lookup of the request is bound to (one no row has, in none)."""
        return self.membership.workspace.id if self.membership else NO_WORKSPACE

    @property
    def is_owner(self) -> bool:
        return self.membership is not None and self.membership.owner


def acting(
    user: User, membership: Membership | None, via: Literal["session", "token"], **rest: Any
) -> Principal:
    """The principal of ``user`` acting in ``membership``'s workspace."""
    role = membership.role if membership is not None else Role.VIEWER
    return Principal(
        user=replace(user, role=role),
        via=via,
        membership=membership,
        instance_admin=user.is_admin,
        **rest,
    )


@dataclass(frozen=True)
class Guard:
    """What the middleware needs from the app."""

    users: UserStore
    sessions: SessionStore
    workspaces: WorkspaceStore
    renderer: Renderer
    #: the names the server answers to
    hosts: AllowedHosts
    trust_proxy: bool = False
    #: answers an unexpected exception (logs it, returns the error response)
    on_unexpected: Callable[[Request, Exception], Response] | None = None


def client_address(scope: Scope, headers: Headers, trust_proxy: bool) -> str:
    """The client's address; behind a trusted proxy, the one it forwarded."""
    if trust_proxy:
        forwarded = headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[-1].strip() or "unknown"
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def is_https(scope: Scope, headers: Headers, trust_proxy: bool) -> bool:
    """Whether the browser talks HTTPS to us (``X-Forwarded-Proto`` only from a trusted proxy)."""
    if trust_proxy:
        proto = headers.get("x-forwarded-proto")
        if proto:
            return proto.split(",")[0].strip().lower() == "https"
    return scope.get("scheme") == "https"


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def _route_name(scope: Scope) -> str | None:
    """The name of the route that will answer (the first full match, as the router picks)."""
    app = scope.get("app")
    partial: str | None = None
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(route.name)
        if match is Match.PARTIAL and partial is None:
            partial = str(route.name)
    return partial


class AccessControl:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request = Request(scope)
        trust = self.guard.trust_proxy
        named = (trust and headers.get("x-forwarded-host", "").split(",")[0].strip()) or None
        host = named or headers.get("host")
        if not self.guard.hosts.allows(host):
            await self._refuse_host(request, host or "", receive, send)
            return
        secure = is_https(scope, headers, trust)
        access = access_of(_route_name(scope))
        method = scope["method"].upper()
        state = scope.setdefault("state", {})
        state["client_address"] = client_address(scope, headers, trust)
        state["secure"] = secure

        principal, refusal = await self._authenticate(request, headers, access)
        state["principal"] = principal
        anon_csrf = request.cookies.get(csrf.COOKIE) or ""
        new_cookie = b""
        if principal is None and not anon_csrf:
            anon_csrf = csrf.new_token()
            new_cookie = cookie_header(csrf.COOKIE, anon_csrf, secure=secure, max_age=None)
        state["csrf_token"] = (principal.csrf_token or "") if principal else anon_csrf

        if refusal is None:
            refusal = await self._authorize(request, access, principal)
        needs_token = principal is None or principal.via == "session"
        if refusal is None and method not in csrf.SAFE_METHODS and needs_token:
            expected = state["csrf_token"] if principal else request.cookies.get(csrf.COOKIE)
            given, receive = await csrf.submitted_token(dict(headers.items()), receive)
            host = (trust and headers.get("x-forwarded-host")) or headers.get("host")
            if not csrf.tokens_match(expected, given) or not csrf.origin_allowed(
                headers.get("origin"), host
            ):
                refusal = self.guard.renderer.error(request, CsrfRejected())

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = list(SECURITY_HEADERS)
                if new_cookie:
                    extra.append((b"set-cookie", new_cookie))
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Answered here (logged with secrets masked) rather than left to the server, which
            # would print the raw traceback; the client never sees one either way.
            if started or self.guard.on_unexpected is None:
                raise
            response = self.guard.on_unexpected(request, exc)
            await response(scope, receive, send_with_headers)

    async def _refuse_host(self, request: Request, host: str, receive: Receive, send: Send) -> None:
        scope = request.scope
        state = scope.setdefault("state", {})
        state.update(principal=None, csrf_token="")
        response = self.guard.renderer.error(request, HostNotAllowed(host))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [*SECURITY_HEADERS, (b"cache-control", b"no-store")]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await response(scope, receive, send_with_headers)

    async def _authenticate(
        self, request: Request, headers: Headers, access: Access
    ) -> tuple[Principal | None, Response | None]:
        authorization = headers.get("authorization")
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer":
                address = str(request.scope["state"]["client_address"])
                found = await anyio.to_thread.run_sync(
                    partial(self.guard.users.token_identity, credentials.strip(), address=address)
                )
                if found is not None:
                    user, workspace_id = found
                    membership = await anyio.to_thread.run_sync(
                        partial(
                            self.guard.workspaces.membership, user.id, workspace_id, fallback=False
                        )
                    )
                    return acting(user, membership, "token"), None
                if access is not Access.PUBLIC:
                    error = NotSignedIn(
                        "The API token was not recognised.",
                        "Check that the whole token was sent, or create a new one "
                        "(`flitch tokens create NAME`); revoked tokens stop working at once.",
                    )
                    return None, self.guard.renderer.error(request, error)
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            session = await anyio.to_thread.run_sync(self.guard.sessions.lookup, secret)
            if session is not None:
                mine = await anyio.to_thread.run_sync(
                    self.guard.workspaces.memberships, session.user.id
                )
                chosen = [m for m in mine if m.workspace.id == session.workspace_id] or mine
                principal = acting(
                    session.user,
                    chosen[0] if chosen else None,
                    "session",
                    session_secret=secret,
                    csrf_token=session.csrf_token,
                    workspaces=tuple(mine),
                )
                return principal, None
        return None, None

    async def _authorize(
        self, request: Request, access: Access, principal: Principal | None
    ) -> Response | None:
        renderer = self.guard.renderer
        path = request.url.path
        if access is Access.PUBLIC:
            return None
        if access is Access.SETUP:
            if await anyio.to_thread.run_sync(self.guard.users.count) == 0:
                return None
            if request.method in ("GET", "HEAD") and not is_api(path):
                return RedirectResponse("/signin", status_code=303)
            error: FlitchError = Conflict(
                "Flitch is already set up: the first account exists.",
                "Sign in at /signin; an admin can add more accounts.",
            )
            return renderer.error(request, error)
        if principal is None:
            if is_api(path):
                return renderer.error(request, NotSignedIn())
            if await anyio.to_thread.run_sync(self.guard.users.count) == 0:
                return RedirectResponse("/setup", status_code=303)
            if request.method in ("GET", "HEAD"):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
            return renderer.error(request, NotSignedIn())
        if access is Access.ADMIN and not principal.user.is_admin:
            return renderer.error(request, Forbidden())
        if access is Access.INSTANCE_ADMIN and not principal.instance_admin:
            return renderer.error(request, Forbidden())
        return None


def principal_of(request: Request) -> Principal:
    """The signed-in principal of a request the middleware let through to a guarded route."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise NotSignedIn()
    return principal
