"""Errors the web app raises on its own, and the HTTP status of every Flitch error.

They extend Flitch's error tree (:mod:`flitch.errors`)::

    FlitchError
    ├── InputError
    │   ├── NotFound                   404
    │   ├── Conflict                   409  the name is taken, the last admin cannot go…
    │   ├── MembershipConflict         409  the last owner cannot go, the default stays…
    │   └── (any other)                400
    ├── NotSignedIn                    401  sign in, or send a valid API token
    ├── Forbidden                      403  an admin's action; ask an admin
    ├── CsrfRejected                   403  reload the page and try again
    ├── TooManyAttempts                429  wait the minutes it says
    ├── RefreshRunning                 409  a refresh holds the cache: wait, then retry
    ├── StripeError                    502 (retriable ones: 503)
    └── WriteRefused                   500

Every body the API sends for an error is ``FlitchError.to_dict()``: ``error``, ``message``,
``fix`` (and ``retriable``, ``request_id``).
"""

from __future__ import annotations

from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    InputError,
    NotFound,
    PermissionMissing,
    StripeError,
)
from flitch.store.base import RefreshRunning
from flitch.workspaces.model import MembershipConflict


class Conflict(InputError):
    """The request clashes with what exists: a taken name, the last admin, a closed setup."""


class NotSignedIn(FlitchError):
    """The request carries no valid session or API token."""

    def __init__(
        self,
        message: str = "You are not signed in.",
        fix: str = (
            "Sign in at /signin, or send an API token as 'Authorization: Bearer flt_…' "
            "(create one with `flitch tokens create NAME`)."
        ),
    ) -> None:
        super().__init__(message, fix)


class Forbidden(FlitchError):
    """The signed-in user's role does not allow this."""

    def __init__(
        self,
        message: str = "Only an admin can do this.",
        fix: str = "Ask an admin of this Flitch to do it, or to make your account an admin.",
    ) -> None:
        super().__init__(message, fix)


class CsrfRejected(FlitchError):
    """A request that changes something came without the page's anti-forgery token."""

    def __init__(
        self,
        message: str = "This request was refused: it did not carry the page's security token.",
        fix: str = (
            "Reload the page and try again. Scripts should authenticate with an API token "
            "('Authorization: Bearer flt_…') instead of a session cookie."
        ),
    ) -> None:
        super().__init__(message, fix)


class TooManyAttempts(FlitchError):
    """Too many failed sign-ins for this account or from this address."""

    retriable = True

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, int((retry_after + 59) // 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(
            "Too many failed sign-in attempts.",
            f"Try again in {minutes} {unit}. If you forgot the password, ask an admin to set a "
            "new one (`flitch users password NAME`).",
        )
        self.retry_after = retry_after
        self.minutes = minutes


def status_for(error: FlitchError) -> int:
    """The HTTP status an error is answered with."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict | MembershipConflict):
        return 409
    if isinstance(error, InputError):
        return 400
    if isinstance(error, NotSignedIn):
        return 401
    if isinstance(error, Forbidden | CsrfRejected):
        return 403
    if isinstance(error, TooManyAttempts):
        return 429
    if isinstance(error, RefreshRunning):
        return 409
    if isinstance(error, AuthenticationFailed | PermissionMissing):
        # The Stripe key was refused: the request was fine, the key is not.
        return 422
    if isinstance(error, StripeError):
        return 503 if error.retriable else 502
    return 500
