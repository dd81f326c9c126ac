"""What the connection test found: the report of a probe, and its JSON form.

A :class:`ProbeReport` holds whether Stripe accepted the key (:class:`Authentication`), the mode
the key reads, and one :class:`ObjectCheck` per selected object plus one for events, each with
what it means and what to do. From those it derives the one-word :class:`Outcome` the CLI maps to
an exit status, and a one-line summary. How the checks are made is :mod:`.probe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flitch.keys import Mode

MODES_EXPLAINED = (
    "A test key (rk_test_…) only sees test-mode data; a live key (rk_live_…) only live data."
)


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
