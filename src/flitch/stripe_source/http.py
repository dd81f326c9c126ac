"""The GET-only HTTP layer under the Stripe SDK: nothing but a GET can leave the process.

:class:`GetOnlyHTTPClient` is the SDK's aiohttp client with every request method of it (sync,
async, streaming, with or without the SDK's retries) refusing any method but GET with
:class:`~flitch.errors.WriteRefused` before anything is sent; the aiohttp session under it
carries a middleware (``_refuse_writes``) that refuses the same way, so a write cannot leave by
any path. :func:`refuse_unless_get` is the one check all of them run. :func:`endpoint_of` names
the endpoint a path belongs to (Stripe's rate limits are per endpoint).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import stripe

from flitch.errors import WriteRefused

#: The one HTTP method Flitch sends to Stripe.
ALLOWED_METHOD: Final = "GET"
_ASYNC_ONLY: Final = "Flitch reads from Stripe asynchronously only (await the async methods)."


def refuse_unless_get(method: str, url: str) -> None:
    """Raise :class:`WriteRefused` for any method but GET (the one check every path runs)."""
    if str(method).strip().upper() == ALLOWED_METHOD:
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


def endpoint_of(path: str) -> str:
    """The rate-limit bucket of a path: ``/v1/customers`` and ``/v1/customers/{id}`` differ."""
    parts = path.split("?", 1)[0].rstrip("/").split("/")
    return "/".join(parts[:3]) + ("/{id}" if len(parts) > 3 else "")


__all__ = ["ALLOWED_METHOD", "GetOnlyHTTPClient", "endpoint_of", "refuse_unless_get"]
