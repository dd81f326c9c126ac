"""Keys, permissions and Stripe-shaped error bodies for the emulator.

The emulator recognises the keys it is configured with (``EmulatorConfig.keys``): each maps to
``None`` (Read on everything, as a full restricted key or a secret key) or to the set of objects
it may read (``"customers"``, …, and ``"events"``). A key's mode (``_test_`` / ``_live_``) picks
the account's test or live data. Errors are answered the way Stripe answers them — status, body
and wording — including the odd ones (a missing permission is a 403 with
``type: invalid_request_error`` and no ``code``).

The demo keys below are fake and public: ``flitch emulator`` prints them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# -- demo keys ---------------------------------------------------------------------------------
#: Read on every object, test mode.
DEMO_TEST_KEY = "rk_test_51FlitchDemoKeyReadsEverythingT3st"
#: Read on every object, live mode.
DEMO_LIVE_KEY = "rk_live_51FlitchDemoKeyReadsEverythingL1ve"
#: Read on every object except subscriptions and events, test mode.
DEMO_LIMITED_KEY = "rk_test_51FlitchDemoKeyNoSubsNoEventsLtd9"
#: Revoked: answers 401 ``api_key_expired``.
DEMO_REVOKED_KEY = "rk_test_51FlitchDemoKeyRevokedLongAgoRvk0"
#: A secret key: works (as in Stripe), so a client can be shown refusing it.
DEMO_SECRET_KEY = "sk_test_51FlitchDemoSecretKeyCanWriteSk7e"  # noqa: S105 (fake, public)
#: A publishable key: can list nothing.
DEMO_PUBLISHABLE_KEY = "pk_test_51FlitchDemoPublishableKeyPk3y"

#: What each key may read, by the emulator's resource names (``"events"`` included).
RESOURCES: tuple[str, ...] = (
    "customers",
    "charges",
    "payment_intents",
    "invoices",
    "subscriptions",
    "products",
    "prices",
    "payouts",
    "balance_transactions",
    "disputes",
    "credit_notes",
    "coupons",
    "events",
)

#: Stripe's name for the Read permission of each resource (as in its 403 messages).
READ_PERMISSIONS: Mapping[str, str] = {
    "customers": "rak_customer_read",
    "charges": "rak_charge_read",
    "payment_intents": "rak_payment_intent_read",
    "invoices": "rak_invoice_read",
    "subscriptions": "rak_subscription_read",
    "products": "rak_product_read",
    "prices": "rak_plan_read",
    "payouts": "rak_payout_read",
    "balance_transactions": "rak_balance_transaction_source_read",
    "disputes": "rak_dispute_read",
    "credit_notes": "rak_credit_note_read",
    "coupons": "rak_coupon_read",
    "events": "rak_event_read",
}


def write_permission(resource: str) -> str:
    """The Write permission Stripe would name for a refused write (``rak_customer_write``)."""
    return READ_PERMISSIONS[resource].removesuffix("_read") + "_write"


LIMITED_RESOURCES = frozenset(RESOURCES) - {"subscriptions", "events"}

#: The keys ``flitch emulator`` starts with when given no ``--key``.
DEMO_KEYS: Mapping[str, frozenset[str] | None] = {
    DEMO_TEST_KEY: None,
    DEMO_LIVE_KEY: None,
    DEMO_LIMITED_KEY: LIMITED_RESOURCES,
    DEMO_SECRET_KEY: None,
    DEMO_PUBLISHABLE_KEY: None,
}
DEMO_REVOKED_KEYS: frozenset[str] = frozenset({DEMO_REVOKED_KEY})

KEY_PATTERN = re.compile(r"^(rk|sk|pk)_(test|live)_[A-Za-z0-9]+$")


def mask_key(key: str) -> str:
    """Stripe's way of naming a key in a message: its prefix, stars, and its last four."""
    match = re.match(r"^((?:rk|sk|pk)_(?:test|live)_)", key)
    prefix = match.group(1) if match else ""
    hidden = max(len(key) - len(prefix) - 4, 3)
    return prefix + "*" * hidden + key[-4:] if len(key) > 4 else "*" * len(key)


def key_mode(key: str) -> str | None:
    """``"test"`` or ``"live"`` from the key's prefix, or ``None`` when it has neither."""
    if "_test_" in key[:8]:
        return "test"
    if "_live_" in key[:8]:
        return "live"
    return None


def parse_key_spec(text: str) -> tuple[str, frozenset[str] | None]:
    """Parse a ``--key`` value: ``KEY`` (Read on everything) or ``KEY=customers,charges``.

    Raises ``ValueError`` with a message saying what to write instead.
    """
    key, sep, names = text.strip().partition("=")
    key = key.strip()
    if not KEY_PATTERN.match(key):
        raise ValueError(
            f"{mask_key(key)!r} does not look like a Stripe key: write rk_test_…, rk_live_…, "
            "sk_… or pk_… followed by letters and digits (optionally =customers,charges,…)."
        )
    if not sep:
        return key, None
    wanted = frozenset(n.strip() for n in names.split(",") if n.strip())
    unknown = sorted(wanted - set(RESOURCES))
    if unknown:
        raise ValueError(
            f"unknown object(s) {', '.join(unknown)} for key {mask_key(key)}: "
            f"choose among {', '.join(RESOURCES)}."
        )
    return key, wanted


def key_from_headers(authorization: str | None) -> str | None:
    """The key in an ``Authorization`` header: ``Bearer KEY`` or HTTP Basic with the key as user."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = decoded.partition(":")[0]
        return user or None
    return None


# -- errors ------------------------------------------------------------------------------------
DOCS = "https://stripe.com/docs"


class ApiError(Exception):
    """An answer in Stripe's error shape: ``{"error": {"type", "message", "code"?, "param"?}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        #: Recorded in the request log (``rate_limited``, ``read_only``…).
        self.note = note

    def body(self, request_id: str) -> bytes:
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/logs/{request_id}"
        error["type"] = self.type
        return orjson.dumps({"error": error})


def no_key() -> ApiError:
    return ApiError(
        401,
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
        f"{DOCS}/api#authentication for details, or we can help at https://support.stripe.com/.",
    )


def invalid_key(key: str) -> ApiError:
    return ApiError(401, f"Invalid API Key provided: {mask_key(key)}")


def expired_key(key: str) -> ApiError:
    return ApiError(401, f"Expired API Key provided: {mask_key(key)}", code="api_key_expired")


def publishable_key() -> ApiError:
    return ApiError(
        403,
        "This API call cannot be made with a publishable API key. Please use a secret API key. "
        "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.",
    )


def missing_permission(key: str, account_id: str, permission: str) -> ApiError:
    return ApiError(
        403,
        f"The provided key '{mask_key(key)}' does not have the required permissions for this "
        f"endpoint on account '{account_id}'. Having the '{permission}' permission would allow "
        "this request to continue.",
    )


def rate_limited() -> ApiError:
    return ApiError(
        429,
        "Request rate limit exceeded. You can learn more about rate limits here "
        f"{DOCS}/rate-limits.",
        code="rate_limit",
        note="rate_limited",
    )


def too_many_in_flight() -> ApiError:
    return ApiError(
        429,
        "This request was rate limited because too many requests are in flight at once for "
        f"this account. Lower your concurrency and retry; see {DOCS}/rate-limits.",
        code="rate_limit",
        note="concurrency_limited",
    )


def unknown_parameter(param: str) -> ApiError:
    return ApiError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def invalid_parameter(param: str, message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def no_such(object_type: str, object_id: str, param: str, status: int = 404) -> ApiError:
    label = object_type.replace("_", " ")
    return ApiError(status, f"No such {label}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> ApiError:
    return ApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see {DOCS} or we can help at "
        "https://support.stripe.com/.",
    )


def internal_error() -> ApiError:
    return ApiError(
        500,
        "An unknown error occurred while processing this request; it is safe to retry. "
        "(Injected by the Flitch emulator's --fault-rate.)",
        type_="api_error",
        note="fault:error",
    )


@dataclass(frozen=True)
class Caller:
    """Who is asking: the key, its mode and what it may read (``None``: everything)."""

    key: str
    livemode: bool
    allowed: frozenset[str] | None

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    @property
    def last4(self) -> str:
        return self.key[-4:]

    @property
    def restricted(self) -> bool:
        return self.key.startswith("rk_")

    def may_read(self, resource: str) -> bool:
        return self.allowed is None or resource in self.allowed


def authenticate(
    key: str | None,
    keys: Mapping[str, frozenset[str] | None],
    revoked: frozenset[str] | set[str],
) -> Caller:
    """The caller behind ``key``, or the ``ApiError`` Stripe would answer (401, or 403 for pk_)."""
    if key is None:
        raise no_key()
    if key in revoked:
        raise expired_key(key)
    if key not in keys:
        raise invalid_key(key)
    mode = key_mode(key)
    if mode is None:
        raise invalid_key(key)
    if key.startswith("pk_"):
        raise publishable_key()
    return Caller(key=key, livemode=mode == "live", allowed=keys[key])
