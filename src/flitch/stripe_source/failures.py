"""What a failed request to Stripe means: whether to try again, and the error a user reads.

The SDK interprets an error answer into its own error types (:func:`raise_sdk_error`); a 2xx
answer whose body is not a JSON object is a :class:`BadBody`. :func:`advise` tells the pacer
whether an attempt may be retried and after how long at least (Stripe's ``Stripe-Should-Retry``
and ``Retry-After`` headers decide where present); once the pacer gives up, :func:`translate`
turns the error into Flitch's own, which says what to do and keeps Stripe's ``request_id``. No
message contains the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

import stripe

from flitch import catalog
from flitch.config import Settings
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    PermissionMissing,
    RateLimited,
    StripeRequestFailed,
    StripeUnavailable,
)
from flitch.keys import mask
from flitch.stripe_source.http import endpoint_of
from flitch.stripe_source.pacing import RetryAdvice, RetryKind


class BadBody(Exception):
    """A 2xx answer whose body is not a JSON object (a cut connection, a proxy page)."""

    def __init__(self, status: int = 200, request_id: str | None = None) -> None:
        super().__init__("a successful answer with a body that is not a JSON object")
        self.status = status
        self.request_id = request_id


def raise_sdk_error(
    requestor: Any, body: object, status: int, headers: Mapping[str, str]
) -> NoReturn:
    """Let the SDK interpret an error answer (it raises its own error type)."""
    requestor._interpret_response(body, status, headers, "V1")
    raise stripe.APIError(f"HTTP {status} was not an error to the SDK", http_status=status)


def _header(exc: stripe.StripeError, name: str) -> str | None:
    value = (exc.headers or {}).get(name)
    if value is None:
        value = (exc.headers or {}).get(name.lower())
    return None if value is None else str(value)


def advise(exc: Exception) -> RetryAdvice:
    """Whether a failed attempt may be retried, and after how long at least."""
    if isinstance(exc, BadBody | stripe.APIConnectionError):
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
    if isinstance(exc, BadBody | stripe.APIConnectionError) or status >= 500:
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


__all__ = ["BadBody", "advise", "raise_sdk_error", "translate"]
