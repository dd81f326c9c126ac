"""Flitch's errors, grouped by what the user (or the caller) should do next.

Every error carries a ``message`` (what happened) and a ``fix`` (what to do about it), and,
where Stripe answered, Stripe's ``request_id`` so a support ticket can name the request.
No error message ever contains a whole API key: keys are masked before they reach a message.

::

    FlitchError                      message, fix, request_id
    ├── InputError                   fix the input and try again
    │   ├── KeyRejected              not a usable restricted key (secret, publishable, malformed)
    │   └── NotFound                 no such connection, dataset, dashboard…
    ├── StripeError                  Stripe answered, or could not be reached
    │   ├── AuthenticationFailed     invalid, deleted, rolled or expired key: fatal for the key
    │   ├── PermissionMissing        the key lacks Read on one object: skip it, tell the user
    │   ├── RateLimited              still limited after every retry: retriable later
    │   ├── StripeUnavailable        network or 5xx after every retry: retriable later
    │   └── StripeRequestFailed      any other refusal (400/404): a bug on our side, report it
    └── WriteRefused                 a request other than GET was attempted; nothing was sent
"""

from __future__ import annotations


class FlitchError(Exception):
    """Base of every error Flitch raises on purpose."""

    #: True when trying again later can succeed without the user changing anything.
    retriable: bool = False

    def __init__(self, message: str, fix: str = "", *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.fix:
            parts.append(self.fix)
        if self.request_id:
            parts.append(f"(Stripe request {self.request_id})")
        return " ".join(parts)

    def to_dict(self) -> dict[str, str | bool | None]:
        """The error as JSON for ``--json`` output and the HTTP API."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "fix": self.fix,
            "retriable": self.retriable,
            "request_id": self.request_id,
        }


class InputError(FlitchError):
    """The input cannot be used as given; the message says what would be accepted."""


class KeyRejected(InputError):
    """The text pasted is not a read-only restricted key Flitch can use."""


class NotFound(InputError):
    """A connection, dataset or dashboard of that name does not exist."""


class StripeError(FlitchError):
    """Stripe refused a request, or could not be reached."""


class AuthenticationFailed(StripeError):
    """Stripe does not accept the key: it is invalid, or was deleted, rolled or has expired."""

    def __init__(
        self,
        message: str = "Authentication failed.",
        fix: str = (
            "The key was deleted or rolled in Stripe. Create a new restricted key "
            "and update the connection."
        ),
        *,
        expired: bool = False,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, fix, request_id=request_id)
        self.expired = expired


class PermissionMissing(StripeError):
    """The key authenticates but lacks Read on one object."""

    def __init__(
        self,
        object_name: str,
        permission: str,
        permission_label: str,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            f"Missing permission: the key cannot read {object_name} "
            f"(Stripe permission {permission}).",
            f"Edit the key in Stripe and grant {permission_label} on it.",
            request_id=request_id,
        )
        self.object_name = object_name
        self.permission = permission
        self.permission_label = permission_label


class RateLimited(StripeError):
    """Stripe kept answering 429 after every retry."""

    retriable = True


class StripeUnavailable(StripeError):
    """Stripe could not be reached, or kept failing (5xx), after every retry."""

    retriable = True


class StripeRequestFailed(StripeError):
    """Stripe refused a request for a reason other than the key (400, 404)."""


class WriteRefused(FlitchError):
    """Something tried to send a request other than GET to Stripe. Nothing was sent."""
