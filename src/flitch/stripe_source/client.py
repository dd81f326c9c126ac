"""The read-only Stripe client: the official SDK, a pinned API version, and a GET-only seam.

Every request Flitch sends to Stripe goes through :class:`SourceClient.get`:

- the official ``stripe`` SDK builds the request (authentication, API version, encoding of the
  parameters) and raises its own error types, through a ``StripeClient`` built for one key —
  ``stripe.api_key`` and the SDK's other globals are never touched;
- the SDK's HTTP client is :class:`~flitch.stripe_source.http.GetOnlyHTTPClient`: every request
  method of it (sync, async, streaming, with or without the SDK's retries) refuses any method
  but GET with :class:`~flitch.errors.WriteRefused` before anything is sent, and the aiohttp
  session under it carries a middleware that refuses the same way, so a write cannot leave the
  process by any path;
- :class:`~flitch.stripe_source.pacing.Pacer` spaces the requests to Stripe's limits and retries
  429s, 5xx and network errors (the SDK's own retries are off: ``max_network_retries=0``);
- the SDK builds each request (``_APIRequestor._args_for_request_with_retries``: key, pinned
  version, parameter encoding) and the GET-only client sends it; the body of a successful answer
  is parsed with orjson — about three times faster than the SDK's ``json.loads`` into
  ``OrderedDict``s, which at 100 pages/s of 100 objects would take a third of a core or more
  (``bench/bench_read.py`` measures both) — and skipping ``request_raw_async`` also skips the
  SDK's formatting of every response body for a debug log line that is then thrown away;
- errors are interpreted by the SDK (its own error types), then translated into Flitch's
  errors (:mod:`flitch.stripe_source.failures`), which say what to do and keep Stripe's
  ``request_id``. No message contains the key.

The GET-only layer (:class:`GetOnlyHTTPClient`, :func:`refuse_unless_get`, :func:`endpoint_of`)
and :func:`advise` and :func:`translate` can still be imported from this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar

import msgspec
import orjson
import stripe

from flitch import clock as clocks
from flitch.config import Settings
from flitch.errors import StripeError, StripeRequestFailed
from flitch.keys import mask
from flitch.stripe_source.clock import StripeClock
from flitch.stripe_source.failures import BadBody, advise, raise_sdk_error, translate
from flitch.stripe_source.http import (
    ALLOWED_METHOD,
    GetOnlyHTTPClient,
    endpoint_of,
    refuse_unless_get,
)
from flitch.stripe_source.pacing import Backoff, Clock, Pacer, PacerStats
from flitch.stripe_source.pages import ListPage, NotAListPage
from flitch.stripe_source.shared_budget import shared_buckets

#: The Stripe API version every request is made with; objects are parsed for this version.
#: It is the version the installed SDK was generated for (a test checks they agree).
API_VERSION: Final = "2026-10-28.endive"

T = TypeVar("T")


class KeyLike(Protocol):
    """What the client needs of a key (:class:`flitch.keys.RestrictedKey` has it)."""

    @property
    def secret(self) -> str: ...

    @property
    def mode(self) -> str: ...


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise BadBody
    return data


def _list_page(path: str, body: bytes) -> ListPage:
    try:
        return ListPage.decode(body)
    except msgspec.DecodeError:
        raise BadBody from None
    except NotAListPage:
        raise StripeRequestFailed(
            f"Stripe's answer for {path} is not a list page.",
            "Check that FLITCH_STRIPE_API_BASE points at Stripe (or the emulator).",
        ) from None


class SourceClient:
    """One key's read-only connection to Stripe: paced, retried GETs returning parsed JSON."""

    def __init__(
        self,
        key: KeyLike,
        settings: Settings,
        *,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = clocks.now,
    ) -> None:
        self._secret = key.secret
        #: Stripe's time as this machine can tell it (``wall_clock``), from answers' Date headers
        self.stripe_clock = StripeClock(wall_clock)
        self.mode: str = key.mode
        self.settings = settings
        live = str(key.mode) == "live"
        self.http_client = GetOnlyHTTPClient(
            timeout=settings.request_timeout, max_connections=settings.max_in_flight
        )
        self.sdk = stripe.StripeClient(
            key.secret,
            stripe_version=API_VERSION,
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=0,
            http_client=self.http_client,
        )
        self.pacer = Pacer(
            global_rate=(
                settings.live_requests_per_second if live else settings.test_requests_per_second
            ),
            endpoint_rate=settings.endpoint_requests_per_second,
            max_in_flight=settings.max_in_flight,
            max_retries=settings.max_retries,
            backoff=backoff,
            clock=clock,
            # server mode: the key's budget is shared with every process using it
            buckets=shared_buckets(settings, key.secret, clock),
        )

    @property
    def stats(self) -> PacerStats:
        return self.pacer.stats

    def __repr__(self) -> str:
        return f"SourceClient({mask(self._secret)!r}, mode={str(self.mode)!r})"

    async def get(
        self, path: str, params: Mapping[str, Any], *, priority: float = 0.0
    ) -> dict[str, Any]:
        """One paced, retried GET of ``path`` with query ``params``; the parsed JSON object.

        ``priority`` orders requests of different endpoints waiting for the key's budget
        (higher first). Raises a :class:`~flitch.errors.StripeError` subclass saying what to do.
        """
        return await self._get(path, params, priority, _json_object)

    async def get_list(
        self, path: str, params: Mapping[str, Any], *, priority: float = 0.0
    ) -> ListPage:
        """Like :meth:`get`, for a list endpoint: the page as a :class:`ListPage` (each
        object's JSON text, id and ``created``; the objects decoded only if asked for)."""
        return await self._get(path, params, priority, functools.partial(_list_page, path))

    async def _get(
        self, path: str, params: Mapping[str, Any], priority: float, parse: Callable[[bytes], T]
    ) -> T:
        refuse_unless_get(ALLOWED_METHOD, path)
        requestor = self.sdk._requestor
        http = self.http_client
        attempts = 0
        query = dict(params)

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            # The SDK builds the request (key, version, encoding) ...
            method, url, headers, _, _, _, _, _ = requestor._args_for_request_with_retries(
                "get", path, query, None, base_address="api", api_mode="V1", usage=["flitch"]
            )
            # ... and we send it: the SDK's request_raw_async would log-format every body (a
            # regex scan and a repr of ~150 KB per page) even with logging off.
            body, status, rheaders = await http.request_async(method, url, headers)
            self.stripe_clock.observe(rheaders.get("Date"))
            if 200 <= status < 300:
                try:
                    return parse(body)
                except BadBody as exc:
                    exc.status, exc.request_id = status, rheaders.get("request-id")
                    raise
            raise_sdk_error(requestor, body, status, rheaders)

        try:
            return await self.pacer.run(endpoint_of(path), attempt, advise, priority=priority)
        except (stripe.StripeError, BadBody) as exc:
            raise translate(
                exc,
                path=path,
                secret=self._secret,
                attempts=attempts,
                settings=self.settings,
                mode=str(self.mode),
            ) from exc

    async def aclose(self) -> None:
        await self.http_client.close_async()
        self.http_client.close()

    async def __aenter__(self) -> SourceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def open_client(
    key: KeyLike,
    settings: Settings,
    *,
    backoff: Backoff | None = None,
    clock: Clock | None = None,
    wall_clock: Callable[[], float] = clocks.now,
) -> SourceClient:
    """The read-only, paced client for one key (close it with ``aclose`` or ``async with``).
    ``clock`` paces requests; ``wall_clock`` (Unix seconds) is compared with Stripe's."""
    return SourceClient(key, settings, backoff=backoff, clock=clock, wall_clock=wall_clock)


__all__ = [
    "API_VERSION",
    "GetOnlyHTTPClient",
    "KeyLike",
    "SourceClient",
    "StripeError",
    "advise",
    "endpoint_of",
    "open_client",
    "refuse_unless_get",
    "translate",
]
