"""The connection test: what a restricted key can read, object by object, and in which mode.

Stripe has no API that tells a key its own permissions, so the probe asks each selected object's
list endpoint for one record (``limit=1``, with the object's first list variant so that, e.g.,
canceled subscriptions count) and ``/v1/events`` for one event, all at once. Each answer says
something:

- 200 with a record: the object is readable and has data in this key's mode;
- 200 and empty: readable, but nothing in this mode (the seed's "No data in one mode");
- 403: the key lacks that Read permission (the seed's "Missing resources"), with the exact fix;
- 401: the key is not accepted at all (the seed's "Authentication failed"), either because
  Stripe says it was deleted, rolled or expired, or because Stripe does not know it;
- no answer, 5xx or 429 after the client's retries: Stripe could not be asked; try again.

That is at most one request per object plus one for events, so the whole test takes one round
trip's time against a responsive server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from flitch import catalog
from flitch.catalog import ObjectSpec
from flitch.config import Settings
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    PermissionMissing,
    RateLimited,
    StripeUnavailable,
)
from flitch.keys import Mode, RestrictedKey

#: Retries the connection test allows itself per request: a person is waiting for the answer.
PROBE_MAX_RETRIES = 2
#: Seconds the connection test waits for one answer at most.
PROBE_TIMEOUT = 20.0

MODES_EXPLAINED = (
    "A test key (rk_test_…) only sees test-mode data; a live key (rk_live_…) only live data."
)
EXPIRED_FIX = (
    "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
    "connection."
)
INVALID_FIX = (
    "Stripe does not know this key: check that it was copied whole, from the right account. "
    "If it was deleted or rolled in Stripe, create a new restricted key and update the connection."
)
EVENTS_BENEFIT = (
    "faster, exact incremental refreshes (each refresh reads only what changed since the last "
    "one, instead of re-reading every object in full)"
)


class Getter(Protocol):
    """What the probe needs of a client (:class:`~flitch.stripe_source.client.SourceClient`)."""

    async def get(self, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]: ...


class AuthState(StrEnum):
    OK = "ok"
    FAILED = "failed"
    #: No request got an answer, so nobody knows yet.
    UNKNOWN = "unknown"


class ReadState(StrEnum):
    """What one probed list endpoint answered."""

    #: Readable, and at least one record exists in this mode.
    READABLE = "readable"
    #: Readable, but no record in this mode.
    EMPTY = "empty"
    MISSING_PERMISSION = "missing_permission"
    ERROR = "error"
    #: Not asked (``--no-events``), or meaningless because the key was not accepted.
    NOT_CHECKED = "not_checked"


class Outcome(StrEnum):
    """The one-word verdict of a probe (the CLI maps it to an exit status)."""

    OK = "ok"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_MISSING = "permission_missing"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True)
class Authentication:
    state: AuthState
    #: True when Stripe said the key was deleted, rolled or expired (not merely unknown).
    expired: bool = False
    message: str = ""
    fix: str = ""
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is AuthState.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state.value,
            "expired": self.expired,
            "message": self.message,
            "fix": self.fix,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class ObjectCheck:
    """What the key can do with one object (or with events, named ``"events"``)."""

    name: str
    label: str
    permission: str
    permission_label: str
    state: ReadState
    message: str
    fix: str = ""
    request_id: str | None = None
    #: Parameters the probe listed with (besides ``limit=1``).
    params: Mapping[str, str] = field(default_factory=dict)
    #: For an error: trying again later may succeed (network, 5xx, rate limit).
    retriable: bool = False

    @property
    def readable(self) -> bool:
        return self.state in (ReadState.READABLE, ReadState.EMPTY)

    @property
    def has_data(self) -> bool | None:
        if self.state is ReadState.READABLE:
            return True
        if self.state is ReadState.EMPTY:
            return False
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "permission": self.permission,
            "permission_label": self.permission_label,
            "state": self.state.value,
            "readable": self.readable,
            "has_data": self.has_data,
            "message": self.message,
            "fix": self.fix,
            "request_id": self.request_id,
            "params": dict(self.params),
            "retriable": self.retriable,
        }


@dataclass(frozen=True)
class ProbeReport:
    """The connection test's findings; ``to_dict()`` is its JSON form."""

    authentication: Authentication
    mode: Mode | None
    objects: tuple[ObjectCheck, ...]
    events: ObjectCheck
    #: Requests sent (at most one per object plus one for events).
    requests: int
    elapsed_ms: float
    #: The key, masked (``rk_live_…wxyz``), when the probe was told which key it tests.
    key: str | None = None
    #: Where the requests went, when known (``https://api.stripe.com`` or an emulator).
    api_base: str | None = None

    @property
    def ok(self) -> bool:
        """Authenticated, and every selected object readable (events are optional)."""
        return self.authentication.ok and all(o.readable for o in self.objects)

    @property
    def missing(self) -> tuple[ObjectCheck, ...]:
        return tuple(o for o in self.objects if o.state is ReadState.MISSING_PERMISSION)

    @property
    def failed(self) -> tuple[ObjectCheck, ...]:
        return tuple(o for o in self.objects if o.state is ReadState.ERROR)

    @property
    def outcome(self) -> Outcome:
        auth = self.authentication.state
        if auth is AuthState.FAILED:
            return Outcome.AUTHENTICATION_FAILED
        if auth is AuthState.UNKNOWN:
            return Outcome.UNREACHABLE
        if self.missing:
            return Outcome.PERMISSION_MISSING
        if self.failed:
            transient = all(o.retriable for o in self.failed)
            return Outcome.UNREACHABLE if transient else Outcome.ERROR
        return Outcome.OK

    @property
    def mode_message(self) -> str:
        if self.mode is None:
            return MODES_EXPLAINED
        return f"This key reads {self.mode.description} only. {MODES_EXPLAINED}"

    @property
    def summary(self) -> str:
        return _summary(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "outcome": self.outcome.value,
            "summary": self.summary,
            "key": self.key,
            "api_base": self.api_base,
            "mode": None if self.mode is None else self.mode.value,
            "mode_message": self.mode_message,
            "authentication": self.authentication.to_dict(),
            "objects": [o.to_dict() for o in self.objects],
            "events": self.events.to_dict(),
            "requests": self.requests,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


# -- probing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    name: str
    label: str
    path: str
    permission: str
    permission_label: str
    params: Mapping[str, str]


def _targets(objects: Sequence[ObjectSpec], include_events: bool) -> list[_Target]:
    targets = [
        _Target(
            spec.name,
            spec.label,
            spec.list_path,
            spec.permission,
            spec.permission_label,
            dict(spec.list_variants[0]) if spec.list_variants else {},
        )
        for spec in objects
    ]
    if include_events:
        targets.append(
            _Target(
                "events",
                "Events",
                catalog.EVENTS_PATH,
                catalog.EVENTS_PERMISSION,
                catalog.EVENTS_PERMISSION_LABEL,
                {},
            )
        )
    return targets


async def _ask(client: Getter, target: _Target) -> Mapping[str, Any] | FlitchError:
    try:
        return await client.get(target.path, {"limit": 1, **target.params})
    except FlitchError as error:
        return error


async def probe(
    client: Getter,
    objects: Sequence[ObjectSpec],
    *,
    include_events: bool = True,
    key: RestrictedKey | None = None,
    api_base: str | None = None,
) -> ProbeReport:
    """Test what the key behind ``client`` can read: one request per object, plus events.

    ``key`` (optional) names the key in the report and gives its mode; without it the mode is
    read from the ``livemode`` of any record returned.
    """
    targets = _targets(objects, include_events)
    started = time.perf_counter()
    answers = await asyncio.gather(*(_ask(client, t) for t in targets))
    elapsed_ms = (time.perf_counter() - started) * 1000
    mode = key.mode if key is not None else _mode_from(answers)
    auth = _authentication(answers)
    checks = [_check(t, a, auth, mode) for t, a in zip(targets, answers, strict=True)]
    if include_events:
        events = _explain_events(checks.pop())
    else:
        events = _not_checked(
            _targets((), True)[0],
            "Not checked (asked not to).",
            f"Test again with events to learn whether {EVENTS_BENEFIT} are possible.",
        )
    return ProbeReport(
        authentication=auth,
        mode=mode,
        objects=tuple(checks),
        events=events,
        requests=len(targets),
        elapsed_ms=elapsed_ms,
        key=None if key is None else key.masked,
        api_base=api_base,
    )


async def run_probe(
    key: RestrictedKey,
    settings: Settings,
    objects: Sequence[ObjectSpec] = catalog.OBJECTS,
    *,
    include_events: bool = True,
) -> ProbeReport:
    """Open a client for ``key``, probe, close the client.

    A person waits for this answer, so retries and timeouts are capped (``PROBE_MAX_RETRIES``,
    ``PROBE_TIMEOUT``) below what a background refresh allows itself.
    """
    from flitch.stripe_source.client import open_client

    quick = replace(
        settings,
        max_retries=min(settings.max_retries, PROBE_MAX_RETRIES),
        request_timeout=min(settings.request_timeout, PROBE_TIMEOUT),
    )
    async with open_client(key, quick) as client:
        return await probe(
            client,
            objects,
            include_events=include_events,
            key=key,
            api_base=settings.stripe_api_base,
        )


def _mode_from(answers: Sequence[Mapping[str, Any] | FlitchError]) -> Mode | None:
    for answer in answers:
        if isinstance(answer, FlitchError):
            continue
        for record in answer.get("data") or ():
            if isinstance(record, Mapping) and isinstance(record.get("livemode"), bool):
                return Mode.LIVE if record["livemode"] else Mode.TEST
    return None


def _authentication(answers: Sequence[Mapping[str, Any] | FlitchError]) -> Authentication:
    refused = next((a for a in answers if isinstance(a, AuthenticationFailed)), None)
    if refused is not None:
        if refused.expired:
            return Authentication(
                AuthState.FAILED,
                expired=True,
                message="Authentication failed: Stripe says this key was deleted, rolled or "
                "has expired.",
                fix=EXPIRED_FIX,
                request_id=refused.request_id,
            )
        return Authentication(
            AuthState.FAILED,
            message="Authentication failed: Stripe does not recognise this key.",
            fix=INVALID_FIX,
            request_id=refused.request_id,
        )
    if not answers:
        return Authentication(
            AuthState.UNKNOWN,
            message="Nothing was tested: no object was selected and events were left out.",
            fix="Select at least one object.",
        )
    if all(_unanswered(a) for a in answers):
        first = answers[0]
        assert isinstance(first, FlitchError)
        return Authentication(
            AuthState.UNKNOWN,
            message=f"Stripe could not be asked: {first.message}",
            fix=first.fix or "Try again in a minute.",
            request_id=first.request_id,
        )
    return Authentication(AuthState.OK, message="Stripe accepts the key.")


def _unanswered(answer: Mapping[str, Any] | FlitchError) -> bool:
    return isinstance(answer, StripeUnavailable | RateLimited)


def _grant_fix(permission_label: str) -> str:
    return f"Grant {permission_label} on the key: in Stripe, edit the key and add the permission."


def _empty_hint(label: str, mode: Mode | None) -> str:
    what = label.lower()
    if mode is None:
        return f"If your {what} are in the other mode, use the key for that mode. {MODES_EXPLAINED}"
    other = mode.other
    return (
        f"A {mode.key_prefix}… key only sees {mode.description} and a {other.key_prefix}… key "
        f"only sees {other.description}: if your {what} are in {other.value} mode, use a "
        f"{other.key_prefix}… key."
    )


def _not_checked(target: _Target, message: str, fix: str = "") -> ObjectCheck:
    return ObjectCheck(
        target.name,
        target.label,
        target.permission,
        target.permission_label,
        ReadState.NOT_CHECKED,
        message,
        fix,
        params=target.params,
    )


def _check(
    target: _Target,
    answer: Mapping[str, Any] | FlitchError,
    auth: Authentication,
    mode: Mode | None,
) -> ObjectCheck:
    if auth.state is AuthState.FAILED:
        return _not_checked(target, "Not checked: the key was not accepted.", auth.fix)

    def check(
        state: ReadState, message: str, fix: str = "", rid: str | None = None, retry: bool = False
    ) -> ObjectCheck:
        return ObjectCheck(
            target.name,
            target.label,
            target.permission,
            target.permission_label,
            state,
            message,
            fix,
            rid,
            target.params,
            retry,
        )

    if isinstance(answer, PermissionMissing):
        return check(
            ReadState.MISSING_PERMISSION,
            f"Missing permission: the key does not have {target.permission_label} "
            f"({answer.permission or target.permission}), so {target.label} returns nothing.",
            _grant_fix(target.permission_label),
            answer.request_id,
        )
    if isinstance(answer, StripeUnavailable | RateLimited):
        return check(
            ReadState.ERROR,
            answer.message,
            f"Try again in a minute. {answer.fix}".strip(),
            answer.request_id,
            retry=True,
        )
    if isinstance(answer, FlitchError):
        return check(ReadState.ERROR, answer.message, answer.fix, answer.request_id)
    data = answer.get("data")
    if not isinstance(data, list):
        return check(
            ReadState.ERROR,
            f"Stripe's answer for {target.path} was not a list.",
            "This is likely a bug in Flitch or a proxy in the way: report it.",
        )
    where = "in this mode" if mode is None else f"in {mode.value} mode"
    if data:
        more = "records" if answer.get("has_more") else "record"
        return check(ReadState.READABLE, f"Readable: {target.label} has {more} {where}.")
    listed = ", ".join(f"{k}={v}" for k, v in target.params.items())
    return check(
        ReadState.EMPTY,
        f"Readable, but there are no {target.label.lower()} {where}"
        + (f" (listed with {listed})." if listed else "."),
        f"No data in one mode? {_empty_hint(target.label, mode)}",
    )


def _explain_events(check: ObjectCheck) -> ObjectCheck:
    if check.readable:
        return replace(
            check,
            message=f"Readable: {catalog.EVENTS_PERMISSION_LABEL} is granted, which allows "
            f"{EVENTS_BENEFIT}.",
            fix="",
        )
    if check.state is ReadState.MISSING_PERMISSION:
        return replace(
            check,
            message=f"Not readable: without {catalog.EVENTS_PERMISSION_LABEL}, each refresh "
            "re-reads every object in full (events are optional).",
            fix=f"Grant {catalog.EVENTS_PERMISSION_LABEL} on the key (optional): in Stripe, edit "
            f"the key and add the permission. It allows {EVENTS_BENEFIT}.",
        )
    return check


def _summary(report: ProbeReport) -> str:
    key = report.key or "The key"
    auth = report.authentication
    if auth.state is AuthState.FAILED:
        return f"{key}: {auth.message} {auth.fix}"
    if auth.state is AuthState.UNKNOWN:
        return f"{auth.message} {auth.fix}"
    total = len(report.objects)
    readable = [o for o in report.objects if o.readable]
    with_data = sum(1 for o in readable if o.has_data)
    mode = f" ({report.mode.value} mode)" if report.mode else ""
    events = {
        ReadState.READABLE: "events readable",
        ReadState.EMPTY: "events readable",
        ReadState.MISSING_PERMISSION: "events not readable (optional)",
        ReadState.ERROR: "events not checked (error)",
        ReadState.NOT_CHECKED: "events not checked",
    }[report.events.state]
    head = f"{key}{mode} can read {len(readable)} of {total} objects ({with_data} with data)"
    if report.missing:
        labels = ", ".join(o.permission_label for o in report.missing)
        return f"{head}; missing {labels} — grant them on the key in Stripe; {events}."
    if report.failed:
        return f"{head}; {len(report.failed)} could not be checked — try again; {events}."
    return f"{head}; {events}."
