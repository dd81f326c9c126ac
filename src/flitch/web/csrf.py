"""Protection against cross-site request forgery.

Every request that may change something (any method but GET, HEAD and OPTIONS) made with a
browser session must carry the session's token (a synchroniser token), either in the
``X-CSRF-Token`` header (the pages' JavaScript) or in a ``csrf_token`` form field (plain HTML
forms). Before sign-in there is no session, so the sign-in and first-run forms use a double-submit
token instead: a random value in the ``flitch_csrf`` cookie that the form must echo. Requests
authenticated with an API token are exempt: they carry no cookie, so another site cannot forge
them. As a second line, a request whose ``Origin`` header names another site is refused.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

COOKIE = "flitch_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: A form body larger than this is not searched for the token (the header must be used).
FORM_LIMIT = 256 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """False when the ``Origin`` header names a host other than this one.

    Only the host and port are compared: behind a proxy that terminates TLS the browser's
    scheme (https) and ours (http) differ, and that is no sign of forgery.
    """
    if origin is None:
        return True
    if not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


async def submitted_token(headers: dict[str, str], receive: Receive) -> tuple[str | None, Receive]:
    """The token a request carries, and a ``receive`` that replays any body read to find it."""
    token = headers.get(HEADER)
    if token:
        return token, receive
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None, receive
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= FORM_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away: hand that on unchanged.
            return None, _replay([message], receive)
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
    body = b"".join(chunks)
    token = None
    if not more:
        fields = parse_qs(body.decode("latin-1"), max_num_fields=200)
        values = fields.get(FIELD)
        token = values[0] if values else None
    replayed: Message = {"type": "http.request", "body": body, "more_body": more}
    return token, _replay([replayed], receive)


def _replay(pending: list[Message], rest: Receive) -> Receive:
    """A ``receive`` that first hands back what was already read, then reads on."""

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await rest()

    return receive
