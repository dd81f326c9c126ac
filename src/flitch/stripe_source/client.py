"""The read-only Stripe client: the official SDK, a pinned API version, and a GET-only seam.

Every request Flitch sends to Stripe goes through :class:`SourceClient.get`:

- the official ``stripe`` SDK builds the request (authentication, API version, encoding of the
  parameters) and raises its own error types, through a ``StripeClient`` built for one key —
  ``stripe.api_key`` and the SDK's other globals are never touched;
- the SDK's HTTP client is :class:`GetOnlyHTTPClient`: every request method of it (sync, async,
  streaming, with or without the SDK's retries) refuses any method but GET with
  :class:`~flitch.errors.WriteRefused` before anything is sent, and the aiohttp session under it
  carries a middleware that refuses the same way, so a write cannot leave the process by any
  path;
- :class:`~flitch.stripe_source.pacing.Pacer` spaces the requests to Stripe's limits and retries
  429s, 5xx and network errors (the SDK's own retries are off: ``max_network_retries=0``);
- the SDK builds each request (``_APIRequestor._args_for_request_with_retries``: key, pinned
  version, parameter encoding) and the GET-only client sends it; the body of a successful answer
  is parsed with orjson — about three times faster than the SDK's ``json.loads`` into
  ``OrderedDict``s, which at 100 pages/s of 100 objects would take a third of a core or more
  (``bench/bench_read.py`` measures both) — and skipping ``request_raw_async`` also skips the
  SDK's formatting of every response body for a debug log line that is then thrown away;
- errors are interpreted by the SDK (its own error types), then translated into Flitch's
  errors, which say what to do and keep Stripe's ``request_id``. No message contains the key.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, NoReturn, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import msgspec
import orjson
import stripe

from flitch import catalog
from flitch.config import Settings
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    PermissionMissing,
    RateLimited,
    StripeError,
    StripeRequestFailed,
    StripeUnavailable,
    WriteRefused,
)
from flitch.keys import mask
from flitch.stripe_source.pacing import Backoff, Clock, Pacer, PacerStats, RetryAdvice, RetryKind
from flitch.stripe_source.pages import ListPage, NotAListPage

#: The Stripe API version every request is made with; objects are parsed for this version.
#: It is the version the installed SDK was generated for (a test checks they agree).
API_VERSION: Final = "2026-10-28.endive"

_ALLOWED_METHOD: Final = "GET"
T = TypeVar("T")
_ASYNC_ONLY: Final = "Flitch reads from Stripe asynchronously only (await the async methods)."


class KeyLike(Protocol):
    """What the client needs of a key (:class:`flitch.keys.RestrictedKey` has it)."""

    @property
    def secret(self) -> str: ...

    @property
    def mode(self) -> str: ...


def refuse_unless_get(method: str, url: str) -> None:
    """Raise :class:`WriteRefused` for any method but GET (the one check every path runs)."""
    if str(method).strip().upper() == _ALLOWED_METHOD:
        return
    path = urlsplit(str(url)).path if "://" in str(url) else str(url).split("?", 1)[0]
    raise WriteRefused(
        f"Refused to send {str(method).strip().upper()} {path}: Flitch only reads from Stripe, "
        "so nothing was sent.",
        "This is a bug in the code that tried to write; report it. Your Stripe account was not "
        "changed.",
    )


async def _refuse_writes(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """aiohttp middleware of the session under the client: refuses every method but GET."""
    refuse_unless_get(request.method, str(request.url))
    return await handler(request)


class GetOnlyHTTPClient(stripe.AIOHTTPClient):
    """The SDK's aiohttp client, unable to send anything but GET.

    Each request method the SDK may call checks the method first; the aiohttp session under it
    checks again in a middleware, before a connection is even chosen. Either way
    :class:`WriteRefused` is raised and nothing is sent.

    aiohttp rather than httpx: its HTTP parser is compiled, and a 190 KB page costs it about
    0.15–0.2 ms of the interpreter's time against 1.3–1.9 ms for httpx (whose parser, h11, is
    pure Python) — at Stripe's 100 requests/s, a seventh of a core saved for the whole refresh
    (``bench/bench_http_client.py``). A session belongs to one event loop, so each loop the
    client is used from gets its own (a command-line run and a web server each have one loop).
    """

    name = "flitch-get-only-aiohttp"

    def __init__(self, *, timeout: float = 60.0, max_connections: int = 16) -> None:
        super().__init__(timeout=timeout)
        self._total_timeout = timeout
        self._max_connections = max_connections
        self._ssl = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        for other in [held for held in self._sessions if held.is_closed()]:
            self._sessions.pop(other).detach()  # its loop is gone: nothing left to close
        held = self._sessions.get(loop)
        if held is None or held.closed:
            held = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, ssl=self._ssl, enable_cleanup_closed=False
                ),
                middlewares=(_refuse_writes,),
                timeout=aiohttp.ClientTimeout(total=self._total_timeout),
                trust_env=True,  # HTTPS_PROXY and NO_PROXY, as a self-hosted server expects
            )
            self._sessions[loop] = held
        return held

    @property
    def _session(self) -> aiohttp.ClientSession:  # the SDK's own request path uses this
        return self.session()

    # The SDK reaches the network through these eight methods; each refuses writes first.
    def request_with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        return super().request_with_retries(
            method, url, headers, post_data, max_network_retries, _usage=_usage
        )

    def request_stream_with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        return super().request_stream_with_retries(
            method, url, headers, post_data, max_network_retries, _usage=_usage
        )

    async def request_with_retries_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Any]:
        refuse_unless_get(method, url)
        return await super().request_with_retries_async(
            method, url, headers, post_data, max_network_retries, _usage=_usage
        )

    async def request_stream_with_retries_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[AsyncIterable[bytes], int, Any]:
        refuse_unless_get(method, url)
        return await super().request_stream_with_retries_async(
            method, url, headers, post_data, max_network_retries, _usage=_usage
        )

    def request(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        raise NotImplementedError(_ASYNC_ONLY)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        if post_data is not None:
            raise WriteRefused(
                "Refused to send a GET with a body: Flitch only reads from Stripe, so nothing "
                "was sent.",
                "This is a bug in the code that built the request; report it.",
            )
        try:
            async with self.session().get(url, headers=dict(headers)) as response:
                body = await response.read()
                return body, response.status, response.headers
        except WriteRefused:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._handle_request_error(exc)

    def request_stream(  # type: ignore[override]
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[Iterable[bytes], int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        raise NotImplementedError(_ASYNC_ONLY)

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[aiohttp.StreamReader, int, Mapping[str, str]]:
        refuse_unless_get(method, url)
        return await super().request_stream_async(method, url, headers, post_data)

    def close(self) -> None:
        """Nothing to do: sessions are closed by ``close_async`` (or die with their loop)."""

    async def close_async(self) -> None:
        """Close the running loop's session; forget those of loops that are gone."""
        loop = asyncio.get_running_loop()
        for held_loop, held in list(self._sessions.items()):
            if held_loop is loop:
                await held.close()
            else:
                held.detach()
        self._sessions.clear()


class _BadBody(Exception):
    """A 2xx answer whose body is not a JSON object (a cut connection, a proxy page)."""

    def __init__(self, status: int = 200, request_id: str | None = None) -> None:
        super().__init__("a successful answer with a body that is not a JSON object")
        self.status = status
        self.request_id = request_id


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise _BadBody
    return data


def _list_page(path: str, body: bytes) -> ListPage:
    try:
        return ListPage.decode(body)
    except msgspec.DecodeError:
        raise _BadBody from None
    except NotAListPage:
        raise StripeRequestFailed(
            f"Stripe's answer for {path} is not a list page.",
            "Check that FLITCH_STRIPE_API_BASE points at Stripe (or the emulator).",
        ) from None


def endpoint_of(path: str) -> str:
    """The rate-limit bucket of a path: ``/v1/customers`` and ``/v1/customers/{id}`` differ."""
    parts = path.split("?", 1)[0].rstrip("/").split("/")
    return "/".join(parts[:3]) + ("/{id}" if len(parts) > 3 else "")


def _header(exc: stripe.StripeError, name: str) -> str | None:
    value = (exc.headers or {}).get(name)
    if value is None:
        value = (exc.headers or {}).get(name.lower())
    return None if value is None else str(value)


def advise(exc: Exception) -> RetryAdvice:
    """Whether a failed attempt may be retried, and after how long at least."""
    if isinstance(exc, _BadBody | stripe.APIConnectionError):
        return RetryAdvice(RetryKind.UNAVAILABLE)
    if not isinstance(exc, stripe.StripeError):
        return RetryAdvice(None)
    should_retry = (_header(exc, "Stripe-Should-Retry") or "").lower()
    if should_retry == "false":
        return RetryAdvice(None)
    at_least = 0.0
    retry_after = _header(exc, "Retry-After")
    if retry_after:
        try:
            at_least = max(0.0, float(retry_after))
        except ValueError:
            at_least = 0.0
    status = exc.http_status or 0
    if status == 429 or isinstance(exc, stripe.RateLimitError):
        return RetryAdvice(RetryKind.RATE_LIMITED, at_least)
    if status >= 500 or should_retry == "true":
        return RetryAdvice(RetryKind.UNAVAILABLE, at_least)
    return RetryAdvice(None)


_PERMISSION_IN_MESSAGE = re.compile(r"'(rak_[a-z0-9_]+)'")


def _permission_error(exc: stripe.StripeError, path: str, message: str) -> PermissionMissing:
    match = _PERMISSION_IN_MESSAGE.search(message)
    permission = match.group(1) if match else None
    by_path = next((o for o in catalog.OBJECTS if o.list_path == endpoint_of(path)), None)
    by_permission = next((o for o in catalog.OBJECTS if o.permission == permission), None)
    spec = by_permission or by_path
    if permission == catalog.EVENTS_PERMISSION or (
        permission is None and endpoint_of(path) == catalog.EVENTS_PATH
    ):
        return PermissionMissing(
            "events",
            catalog.EVENTS_PERMISSION,
            catalog.EVENTS_PERMISSION_LABEL,
            request_id=exc.request_id,
        )
    if spec is not None:
        return PermissionMissing(
            spec.name,
            permission or spec.permission,
            spec.permission_label,
            request_id=exc.request_id,
        )
    return PermissionMissing(
        endpoint_of(path),
        permission or "unknown",
        f"the Read permission for {endpoint_of(path)} ({permission or 'see Stripe'})",
        request_id=exc.request_id,
    )


def translate(
    exc: Exception, *, path: str, secret: str, attempts: int, settings: Settings, mode: str
) -> FlitchError:
    """The Flitch error for an SDK error (or a bad body) after the pacer gave up."""
    request_id = getattr(exc, "request_id", None)
    raw = getattr(exc, "user_message", None) or str(exc)
    message = str(raw).replace(secret, mask(secret)) if secret else str(raw)
    retries = max(0, attempts - 1)
    if isinstance(exc, stripe.AuthenticationError):
        error = exc.error
        code = (error.code if error is not None else None) or exc.code
        if code == "api_key_expired":
            return AuthenticationFailed(
                f"Authentication failed: Stripe says the key {mask(secret)} was deleted, rolled "
                "or has expired.",
                expired=True,
                request_id=request_id,
            )
        return AuthenticationFailed(
            f"Authentication failed: Stripe does not recognise the key {mask(secret)}.",
            "Check that the whole key was pasted (it starts with rk_live_ or rk_test_); if it "
            "was deleted or rolled in Stripe, create a new restricted key and update the "
            "connection.",
            request_id=request_id,
        )
    if isinstance(exc, stripe.PermissionError) or getattr(exc, "http_status", None) == 403:
        assert isinstance(exc, stripe.StripeError)
        return _permission_error(exc, path, message)
    if isinstance(exc, stripe.RateLimitError) or getattr(exc, "http_status", None) == 429:
        rate = (
            settings.live_requests_per_second
            if str(mode) == "live"
            else settings.test_requests_per_second
        )
        variable = "FLITCH_LIVE_RPS" if str(mode) == "live" else "FLITCH_TEST_RPS"
        told_not_to = advise(exc).kind is None
        return RateLimited(
            f"Stripe limited requests to {path} (HTTP 429) "
            + (
                "and asked not to retry."
                if told_not_to
                else f"and was still limiting them after {retries} retries."
            ),
            "Wait a minute and try again. If it keeps happening, other integrations are "
            f"probably using this account's request budget: lower {variable} (now {rate:g}/s).",
            request_id=request_id,
        )
    status = getattr(exc, "http_status", None) or 0
    if isinstance(exc, _BadBody | stripe.APIConnectionError) or status >= 500:
        what = f"HTTP {status}" if status else "no answer"
        return StripeUnavailable(
            f"Stripe could not be reached for {path} ({what}) after {retries} retries.",
            "Check this machine's network connection and https://status.stripe.com, then try "
            "again.",
            request_id=request_id,
        )
    return StripeRequestFailed(
        f"Stripe refused the request for {path} (HTTP {status or '?'}): {message}",
        "This is likely a bug in Flitch: report it with the Stripe request id.",
        request_id=request_id,
    )


class SourceClient:
    """One key's read-only connection to Stripe: paced, retried GETs returning parsed JSON."""

    def __init__(
        self,
        key: KeyLike,
        settings: Settings,
        *,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._secret = key.secret
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
        refuse_unless_get(_ALLOWED_METHOD, path)
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
            if 200 <= status < 300:
                try:
                    return parse(body)
                except _BadBody as exc:
                    exc.status, exc.request_id = status, rheaders.get("request-id")
                    raise
            _raise_sdk_error(requestor, body, status, rheaders)

        try:
            return await self.pacer.run(endpoint_of(path), attempt, advise, priority=priority)
        except (stripe.StripeError, _BadBody) as exc:
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


def _raise_sdk_error(
    requestor: Any, body: object, status: int, headers: Mapping[str, str]
) -> NoReturn:
    """Let the SDK interpret an error answer (it raises its own error type)."""
    requestor._interpret_response(body, status, headers, "V1")
    raise stripe.APIError(f"HTTP {status} was not an error to the SDK", http_status=status)


def open_client(
    key: KeyLike,
    settings: Settings,
    *,
    backoff: Backoff | None = None,
    clock: Clock | None = None,
) -> SourceClient:
    """The read-only, paced client for one key (close it with ``aclose`` or ``async with``)."""
    return SourceClient(key, settings, backoff=backoff, clock=clock)


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
