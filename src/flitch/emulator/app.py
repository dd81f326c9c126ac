"""The emulator's ASGI application: Stripe's API answered from an ``Account``.

``EmulatorApp`` answers ``GET /v1/<object>`` (lists) and ``GET /v1/<object>/<id>`` (retrieve)
for the twelve objects and events, the way Stripe does — keys, modes, permissions, rate limits,
errors and all — and refuses every other method (logged like everything else). A loopback-only
admin API lives under ``/_emulator/`` (``admin.py``). ``EmulatorConfig`` is what a running
emulator can be told (latency, limits, faults, its clock…); ``server`` serves the app.

Nothing here imports Flitch outside ``flitch.emulator``: the emulator models Stripe.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import string
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import orjson

from flitch import clock as clocks
from flitch.emulator import admin
from flitch.emulator.auth import (
    DEMO_KEYS,
    DEMO_REVOKED_KEYS,
    READ_PERMISSIONS,
    ApiError,
    Caller,
    authenticate,
    internal_error,
    key_from_headers,
    missing_permission,
    no_such,
    rate_limited,
    too_many_in_flight,
    unknown_parameter,
    unrecognized_url,
    write_permission,
)
from flitch.emulator.expansion import Renderer, list_body
from flitch.emulator.limits import FaultInjector, InFlight, RateLimiter, Rates
from flitch.emulator.listing import (
    BY_OBJECT_TYPE,
    RESOURCES,
    Resource,
    parse_expand,
    parse_list_query,
    parse_query,
    select_page,
)
from flitch.emulator.requestlog import RequestLog, RequestRecord
from flitch.emulator.shapes import API_VERSION
from flitch.emulator.store import Account, ModeStore, Obj

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: The API version answered when a request does not ask for one: the objects' own version.
ACCOUNT_API_VERSION = API_VERSION
DEFAULT_PORT = 12111
FAULT_KINDS = ("error", "drop")


@dataclass
class EmulatorConfig:
    """Everything that shapes the emulator's answers; mutable while it runs.

    Rates are requests per second (``None``: unlimited). ``keys`` maps each accepted key to
    ``None`` (Read on everything) or the objects it may read (``"customers"``, …, ``"events"``).
    """

    keys: dict[str, frozenset[str] | None] = field(default_factory=lambda: dict(DEMO_KEYS))
    revoked_keys: set[str] = field(default_factory=lambda: set(DEMO_REVOKED_KEYS))
    live_rps: float | None = 100.0
    test_rps: float | None = 25.0
    endpoint_rps: float | None = 25.0
    #: Most ``/v1/`` requests answered at once; more get a 429 (``None``: no limit).
    max_in_flight: int | None = None
    #: Added to every ``/v1/`` request (an asyncio sleep: other requests go on meanwhile).
    latency_ms: float = 0.0
    #: Share of ``/v1/`` requests that fail with a fault drawn from ``fault_kinds``.
    fault_rate: float = 0.0
    #: ``"error"``: a 500 ``api_error``; ``"drop"``: the response is cut off mid-body.
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    #: Seeds the fault draws and the admin API's changes.
    seed: int = 0
    api_version: str = ACCOUNT_API_VERSION
    #: Events older than this are no longer listed (Stripe keeps 30 days); ``None``: all.
    event_retention_days: int | None = 30
    #: The emulator's "now" in Unix seconds, for event retention and changes; ``None``: the
    #: account's newest ``created`` (the wall clock for an empty account).
    now: int | None = None

    def rates(self) -> Rates:
        return Rates(live=self.live_rps, test=self.test_rps, endpoint=self.endpoint_rps)


# A dropped connection makes uvicorn log "returned without completing response"; that is the
# point of the fault, so the record is filtered out for exactly those requests.
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("emulator_dropping", default=False)


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _dropping.get()


def install_drop_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


_ID_CHARS = string.ascii_letters + string.digits


def account_now(account: Account) -> int:
    """An account's present: its newest ``created`` (a generated account lives at a fixed
    date, so the wall clock would age its events out), or the wall clock when it is empty."""
    newest = [
        int(first["created"])
        for store in (account.test, account.live)
        for t in store.types()
        if store.count(t) and "created" in (first := store.ordered(t).objects[0])
    ]
    return max(newest) if newest else int(clocks.now())


async def _sleep_at_least(seconds: float) -> None:
    # The loop's timers may fire a fraction of a millisecond early; the latency is a floor.
    until = time.perf_counter() + seconds
    while (left := until - time.perf_counter()) > 0:
        await asyncio.sleep(left)


def _route(path: str) -> tuple[Resource, str | None]:
    """``/v1/customers`` → (customers, None); ``/v1/customers/cus_1`` → (customers, "cus_1")."""
    parts = path.split("/")
    # ["", "v1", name] or ["", "v1", name, id]
    if len(parts) in (3, 4) and parts[1] == "v1":
        resource = RESOURCES.get(parts[2])
        if resource is not None:
            if len(parts) == 3:
                return resource, None
            if parts[3]:
                return resource, parts[3]
    raise LookupError(path)


class EmulatorApp:
    """The ASGI application (no framework: a page is joined bytes, sent in one message)."""

    def __init__(self, account: Account, config: EmulatorConfig, log: RequestLog) -> None:
        self.account = account
        self.config = config
        self.log = log
        self.limiter = RateLimiter()
        self.in_flight = InFlight()
        self.faults = FaultInjector(config.seed)
        self.renderer = Renderer()
        self.change_rng = random.Random(config.seed)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ids = random.Random()

    def clock_now(self) -> float:
        """The time the emulator answers with (its ``Date`` header): ``config.now`` if set."""
        return float(self.config.now) if self.config.now is not None else clocks.now()

    def event_now(self) -> int:
        """The emulator's "now", for event retention: ``config.now``, else the account's."""
        if self.config.now is not None:
            return self.config.now
        return account_now(self.account)

    def request_id(self) -> str:
        return "req_" + "".join(self._ids.choices(_ID_CHARS, k=14))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/_emulator/") or path == "/_emulator":
                await admin.handle(self, scope, receive, send)
            else:
                await self.handle_api(scope, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.loop = asyncio.get_running_loop()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- /v1/ ----------------------------------------------------------------------------------
    async def handle_api(self, scope: Scope, send: Send) -> None:
        started = clocks.now()
        clock = time.perf_counter()
        cfg = self.config
        request_id = self.request_id()
        method: str = scope["method"]
        path: str = scope["path"]
        query = scope["query_string"].decode("latin-1")
        authorization = version = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"stripe-version":
                version = value.decode("latin-1")
        key = key_from_headers(authorization)
        caller: Caller | None = None
        note: str | None = None
        entered = False
        fault: str | None = None
        status = 500
        try:
            try:
                caller = authenticate(key, cfg.keys, cfg.revoked_keys)
                if not self.in_flight.enter(cfg.max_in_flight):
                    raise too_many_in_flight()
                entered = True
                try:
                    resource, object_id = _route(path)
                except LookupError:
                    raise unrecognized_url(method, path) from None
                endpoint = resource.path if object_id is None else resource.path + "/:id"
                if not self.limiter.allow(caller.mode, endpoint, cfg.rates()):
                    raise rate_limited()
                if method != "GET":
                    raise self._refuse_write(caller, resource, method, path)
                if not caller.may_read(resource.name):
                    raise self._forbidden(caller, resource.name)
                if cfg.seed != self.faults.seed:
                    self.faults.reseed(cfg.seed)
                fault = self.faults.draw(cfg.fault_rate, cfg.fault_kinds)
                if fault == "error":
                    raise internal_error()
                store = self.account.mode(caller.livemode)
                if object_id is None:
                    body = self._list(store, resource, query, caller)
                else:
                    body = self._retrieve(store, resource, object_id, query, caller)
                status = 200
                if fault == "drop":
                    note = "fault:drop"
            except ApiError as exc:
                status, body, note = exc.status, exc.body(request_id), exc.note
            if cfg.latency_ms > 0:
                await _sleep_at_least(cfg.latency_ms / 1000.0)
            await self._send(send, status, body, request_id, version or cfg.api_version, fault)
        finally:
            if entered:
                self.in_flight.leave()
            self.log.append(
                RequestRecord(
                    method=method,
                    path=path,
                    query=query,
                    key_last4=key[-4:] if key else None,
                    status=status,
                    time=started,
                    duration_ms=(time.perf_counter() - clock) * 1000.0,
                    request_id=request_id,
                    mode=caller.mode if caller else None,
                    note=note,
                )
            )

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        request_id: str,
        version: str,
        fault: str | None,
    ) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"request-id", request_id.encode()),
            (b"stripe-version", version.encode("latin-1")),
            (b"cache-control", b"no-cache, no-store"),
            # Stripe's time: the emulator's "now" when it is set, else this machine's
            (b"date", formatdate(self.clock_now(), usegmt=True).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if fault == "drop":
            # Half the body, then the connection closes: the client sees a network error.
            _dropping.set(True)
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            return
        await send({"type": "http.response.body", "body": body})

    def _forbidden(self, caller: Caller, resource: str) -> ApiError:
        return missing_permission(caller.key, self.account.id, READ_PERMISSIONS[resource])

    def _refuse_write(self, caller: Caller, resource: Resource, method: str, path: str) -> ApiError:
        if caller.restricted and resource.name != "events":
            error = missing_permission(caller.key, self.account.id, write_permission(resource.name))
        else:
            error = ApiError(
                405,
                f"The Flitch emulator is read-only: {method} {path} is not served. Only GET "
                "requests are answered under /v1/; send writes to a Stripe test account.",
            )
        error.note = "read_only"
        return error

    def _check(self, caller: Caller) -> Callable[[str], None]:
        """The permission check ``expand[]`` applies to each object it expands into."""

        def check(object_type: str) -> None:
            target = BY_OBJECT_TYPE.get(object_type)
            if target is not None and not caller.may_read(target.name):
                raise self._forbidden(caller, target.name)

        return check

    def _list(self, store: ModeStore, resource: Resource, query: str, caller: Caller) -> bytes:
        q = parse_list_query(resource, query, store)
        min_created = None
        days = self.config.event_retention_days
        if resource.name == "events" and days is not None:
            min_created = self.event_now() - days * 86400
        page, has_more = select_page(store, resource, q, min_created=min_created)
        renderer = self.renderer
        if q.expand:
            check = self._check(caller)
            chunks = [renderer.render(store, o, q.expand, check, prefix="data.") for o in page]
        else:
            chunks = renderer.page_bytes(store, resource.object_type, page)
        return list_body(resource.path, chunks, has_more)

    def _retrieve(
        self, store: ModeStore, resource: Resource, object_id: str, query: str, caller: Caller
    ) -> bytes:
        params = parse_query(query)
        for name in params:
            if name != "expand":
                raise unknown_parameter(name)
        expand = parse_expand(params, None)
        obj = store.get(object_id)
        if obj is not None and obj.get("object") == resource.object_type:
            return self.renderer.render(store, obj, expand, self._check(caller))
        tomb = store.tombstones.get(object_id)
        if tomb is not None and tomb.get("object") == "customer" == resource.object_type:
            return orjson.dumps(tomb)
        raise self._missing(resource, object_id, caller)

    def _missing(self, resource: Resource, object_id: str, caller: Caller) -> ApiError:
        error = no_such(resource.object_type, object_id, "id")
        other: Obj | None = self.account.mode(not caller.livemode).get(object_id)
        if other is not None and other.get("object") == resource.object_type:
            this, that = ("live", "test") if caller.livemode else ("test", "live")
            error.message += (
                f"; a similar object exists in {that} mode, but a {this} mode key was used to "
                "make this request."
            )
        return error


# -- running it --------------------------------------------------------------------------------
