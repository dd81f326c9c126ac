"""The emulator's admin API: loopback-only, outside ``/v1/``, never in the request log.

=======  ======================  ==========================================================
POST     /_emulator/changes      ``{"mode": "test", "kind": "refund", "count": 5}`` → the
                                 events the changes created (``{"object": "list", …}``)
GET      /_emulator/requests     the request log (``{"data": [...]}``, oldest first)
DELETE   /_emulator/requests     clear it (``{"cleared": n}``)
GET      /_emulator/summary      objects per mode, keys (masked), limits
GET      /_emulator/config       the limits and faults in force
POST     /_emulator/config       change them: ``{"latency_ms": 200, "fault_rate": 0.1}``,
                                 ``{"revoke": ["rk_test_…"]}`` to revoke a key
=======  ======================  ==========================================================

A web page on any site can make a browser send a "simple" request to 127.0.0.1 without asking
first (a ``text/plain`` or form body, no custom header), so being loopback-only is not enough:
a request whose ``Origin`` is not the emulator's own address (a loopback name with its port) is
refused, and a POST must carry ``Content-Type: application/json``, which a browser sends across
sites only after a preflight the emulator never approves. Scripts send no ``Origin`` at all.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from flitch.emulator.auth import mask_key
from flitch.emulator.store import Obj

if TYPE_CHECKING:
    from flitch.emulator.server import EmulatorApp

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Settings ``POST /_emulator/config`` may change, with the type each takes.
TUNABLE: dict[str, tuple[type, ...]] = {
    "live_rps": (float, int, type(None)),
    "test_rps": (float, int, type(None)),
    "endpoint_rps": (float, int, type(None)),
    "max_in_flight": (int, type(None)),
    "latency_ms": (float, int),
    "fault_rate": (float, int),
    "seed": (int,),
    "event_retention_days": (int, type(None)),
    "now": (int, type(None)),
}


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _loopback(client: Any) -> bool:
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0])).is_loopback
    except ValueError:
        return False


#: Host names a page served by the emulator itself can have in its ``Origin``.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _own_origin(origin: str, scope: Scope) -> bool:
    """An ``Origin`` naming this emulator: http(s), a loopback host, the port it serves on."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host not in _LOOPBACK_NAMES and not _loopback((host,)):
        return False
    server = scope.get("server")
    if server and len(server) > 1 and server[1] is not None:
        return port == int(server[1])
    return True


def _check_browser_rules(scope: Scope) -> None:
    """Refuse what a page on another site could send (see the module docstring)."""
    origin = _header(scope, b"origin")
    if origin is not None and not _own_origin(origin.strip(), scope):
        raise AdminError(
            403,
            f"Refused: the admin API does not answer pages of other sites (Origin {origin!r}). "
            "Call it from a script or a terminal on this machine (no Origin header).",
        )
    if scope["method"] == "POST":
        content_type = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise AdminError(
                415,
                "Send the body as JSON with Content-Type: application/json "
                f"(not {content_type or 'no content type'}).",
            )


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: Any) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def handle(app: EmulatorApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one admin request."""
    try:
        if not _loopback(scope.get("client")):
            raise AdminError(403, "The admin API only answers requests from this machine.")
        _check_browser_rules(scope)
        method, path = scope["method"], scope["path"].rstrip("/")
        if path == "/_emulator/changes" and method == "POST":
            payload = _json(await _body(receive))
            mode = str(payload.get("mode", "test"))
            kind = payload.get("kind")
            count = payload.get("count", 1)
            if not isinstance(kind, str) or not isinstance(count, int) or count < 1:
                raise AdminError(
                    400, 'Send {"mode": "test", "kind": "<one of the kinds>", "count": 1}.'
                )
            events = apply_changes(app, mode, kind, count)
            result: Any = {"object": "list", "data": events, "has_more": False, "url": path}
        elif path == "/_emulator/requests" and method == "GET":
            result = {"data": [r.as_dict() for r in app.log.entries]}
        elif path == "/_emulator/requests" and method == "DELETE":
            result = {"cleared": app.log.clear()}
        elif path == "/_emulator/summary" and method == "GET":
            result = summary(app)
        elif path == "/_emulator/config" and method == "GET":
            result = config_view(app)
        elif path == "/_emulator/config" and method == "POST":
            update_config(app, _json(await _body(receive)))
            result = config_view(app)
        else:
            raise AdminError(
                404,
                f"No admin route {method} {path}. Try GET /_emulator/summary, GET or DELETE "
                "/_emulator/requests, POST /_emulator/changes, GET or POST /_emulator/config.",
            )
    except AdminError as exc:
        await _respond(
            send, exc.status, {"error": {"type": "invalid_request_error", "message": exc.message}}
        )
        return
    await _respond(send, 200, result)


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise AdminError(400, "The body must be a JSON object.") from None
    if not isinstance(payload, dict):
        raise AdminError(400, "The body must be a JSON object.")
    return payload


def apply_changes(app: EmulatorApp, mode: str, kind: str, count: int) -> list[Obj]:
    """Run ``changes.apply_changes`` on one mode's data; returns the events it created."""
    if mode not in ("test", "live"):
        raise AdminError(400, f"mode must be 'test' or 'live', not {mode!r}.")
    try:
        changes = importlib.import_module("flitch.emulator.changes")
    except ImportError as exc:  # the change generator is a separate module
        raise AdminError(503, f"Changes are not available in this build ({exc}).") from None
    if kind not in changes.KINDS:
        raise AdminError(400, f"Unknown kind {kind!r}; choose one of: {', '.join(changes.KINDS)}.")
    store = app.account.mode(mode == "live")
    with store.lock:
        events: list[Obj] = changes.apply_changes(
            store, kind, count, rng=app.change_rng, now=app.config.now
        )
    return events


def summary(app: EmulatorApp) -> dict[str, Any]:
    """What the emulator serves: objects per mode and type, keys (masked), limits."""
    modes: dict[str, dict[str, int]] = {}
    for name, store in (("test", app.account.test), ("live", app.account.live)):
        modes[name] = {t: store.count(t) for t in store.types() if store.count(t)}
    return {
        "account": app.account.id,
        "modes": modes,
        "keys": [
            {
                "key": mask_key(key),
                "last4": key[-4:],
                "reads": "everything" if allowed is None else sorted(allowed),
            }
            for key, allowed in app.config.keys.items()
        ],
        "revoked_keys": [mask_key(k) for k in sorted(app.config.revoked_keys)],
        "config": config_view(app),
        "requests_logged": len(app.log),
    }


def config_view(app: EmulatorApp) -> dict[str, Any]:
    cfg = app.config
    view: dict[str, Any] = {name: getattr(cfg, name) for name in TUNABLE}
    view["fault_kinds"] = list(cfg.fault_kinds)
    view["api_version"] = cfg.api_version
    return view


def update_config(app: EmulatorApp, payload: dict[str, Any]) -> None:
    cfg = app.config
    for name, value in payload.items():
        if name == "revoke":
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise AdminError(400, 'Send {"revoke": ["rk_test_…"]}.')
            cfg.revoked_keys.update(value)
        elif name == "fault_kinds":
            if not isinstance(value, list) or not set(value) <= {"error", "drop"}:
                raise AdminError(400, 'fault_kinds is a list of "error" and/or "drop".')
            cfg.fault_kinds = tuple(value)
        elif name in TUNABLE:
            if not isinstance(value, TUNABLE[name]) or isinstance(value, bool):
                raise AdminError(400, f"{name} cannot be set to {value!r}.")
            setattr(cfg, name, value)
        else:
            settable = ", ".join([*TUNABLE, "fault_kinds", "revoke"])
            raise AdminError(400, f"Unknown setting {name!r}; settable: {settable}.")
    if any(k in payload for k in ("live_rps", "test_rps", "endpoint_rps")):
        app.limiter.reset()
