"""What a connection is, as public data: no secret ever lives in these records.

Also the one place that parses and formats a refresh setting (``off``, ``15m`` … ``1d``), checks a
connection's name, and turns a list of object names into the picked objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from flitch import catalog
from flitch.errors import InputError

# -- refresh setting --------------------------------------------------------------------------

#: The refresh intervals a connection may use, by their written form, in seconds.
REFRESH_CHOICES: Mapping[str, int] = {
    "15m": 15 * 60,
    "30m": 30 * 60,
    "1h": 60 * 60,
    "6h": 6 * 60 * 60,
    "12h": 12 * 60 * 60,
    "1d": 24 * 60 * 60,
}
REFRESH_OFF = "off"
_REFRESH_BY_SECONDS = {seconds: text for text, seconds in REFRESH_CHOICES.items()}
_REFRESH_ALIASES = {
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "1hr": "1h",
    "6hr": "6h",
    "12hr": "12h",
    "24h": "1d",
    "daily": "1d",
    "hourly": "1h",
    "none": REFRESH_OFF,
    "never": REFRESH_OFF,
    "no": REFRESH_OFF,
}


def parse_refresh(text: str | None) -> int | None:
    """Seconds between refreshes for ``text`` (``None`` for ``off``), or an ``InputError``."""
    if text is None:
        return None
    cleaned = text.strip().lower().replace(" ", "")
    cleaned = _REFRESH_ALIASES.get(cleaned, cleaned)
    if cleaned in ("", REFRESH_OFF):
        return None
    seconds = REFRESH_CHOICES.get(cleaned)
    if seconds is None:
        raise InputError(
            f"{text!r} is not a refresh setting.",
            f"Use off (dashboards query Stripe live; the default) or one of: "
            f"{', '.join(REFRESH_CHOICES)} (m = minutes, h = hours, d = days).",
        )
    return seconds


def format_refresh(seconds: int | None) -> str:
    """The written form of a refresh interval: ``off``, ``15m``, …, ``1d``."""
    if seconds is None:
        return REFRESH_OFF
    text = _REFRESH_BY_SECONDS.get(seconds)
    if text is None:
        raise ValueError(f"{seconds} seconds is not one of the refresh intervals")
    return text


# -- names and objects ----------------------------------------------------------------------

NAME_MAX = 64
NAME_RULE = (
    f"A connection name is 1 to {NAME_MAX} characters: letters (A-Z, a-z), digits, spaces, "
    "and - _ . — starting with a letter or digit. It is unique regardless of case, and may not "
    "start with conn_ (that is how connection ids start)."
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]*")
ID_PREFIX = "conn_"


def check_name(name: str) -> str:
    """The connection name, trimmed, or an ``InputError`` that states the rule."""
    cleaned = name.strip()
    if not cleaned:
        raise InputError("The connection needs a name.", NAME_RULE)
    if len(cleaned) > NAME_MAX:
        raise InputError(f"The name is {len(cleaned)} characters long.", NAME_RULE)
    if not _NAME.fullmatch(cleaned):
        raise InputError(f"The name {cleaned!r} has characters a name may not have.", NAME_RULE)
    if cleaned.lower().startswith(ID_PREFIX):
        raise InputError(f"The name {cleaned!r} looks like a connection id.", NAME_RULE)
    return cleaned


def name_key(name: str) -> str:
    """The form of a name that uniqueness is checked on (case-insensitive)."""
    return name.strip().casefold()


def parse_objects(objects: Iterable[str] | str | None) -> tuple[str, ...]:
    """Picked objects in catalog order; ``None`` or ``all`` means all twelve."""
    if objects is None:
        return catalog.NAMES
    items = objects.split(",") if isinstance(objects, str) else list(objects)
    wanted = {item.strip().lower().replace("-", "_").replace(" ", "_") for item in items}
    wanted.discard("")
    if wanted == {"all"}:
        return catalog.NAMES
    if not wanted:
        raise InputError(
            "No objects were picked.",
            f"Pick at least one of: {', '.join(catalog.NAMES)} (or all, the default).",
        )
    unknown = sorted(wanted - set(catalog.NAMES))
    if unknown:
        raise InputError(
            f"Unknown object{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            f"Pick from: {', '.join(catalog.NAMES)} (or all, the default).",
        )
    return tuple(name for name in catalog.NAMES if name in wanted)


# -- records ------------------------------------------------------------------------------------


class DatasetStatus(StrEnum):
    """Whether a picked object can be read: each picked object is one dataset."""

    OK = "ok"
    #: picked, but the key lacks Read on it: kept, reported, fixed by editing the key in Stripe
    MISSING_PERMISSION = "missing_permission"
    #: the last test or refresh failed for another reason (reason and fix say which)
    FAILED = "failed"


class RunOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    #: some datasets refreshed, others failed or were blocked
    PARTIAL = "partial"
    FAILED = "failed"


def iso(ts: float | None) -> str | None:
    """A Unix time as an ISO 8601 UTC string, for output."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DatasetInfo:
    """One picked object of a connection and what is known about reading it."""

    object: str
    label: str
    status: DatasetStatus
    reason: str | None = None
    fix: str | None = None
    last_refresh_at: float | None = None
    next_due_at: float | None = None
    rows: int | None = None

    @property
    def blocked(self) -> bool:
        return self.status is DatasetStatus.MISSING_PERMISSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "label": self.label,
            "status": self.status.value,
            "reason": self.reason,
            "fix": self.fix,
            "last_refresh_at": iso(self.last_refresh_at),
            "next_due_at": iso(self.next_due_at),
            "rows": self.rows,
        }


@dataclass(frozen=True)
class DatasetState:
    """What to write for one dataset when it is saved or re-tested."""

    object: str
    status: DatasetStatus
    reason: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class KeyTestResult:
    """The outcome of the last test of a connection's key (no secret in it)."""

    tested_at: float
    authenticated: bool
    message: str | None = None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tested_at": iso(self.tested_at),
            "authenticated": self.authenticated,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class RunInfo:
    """One refresh run of a connection (or of some of its datasets)."""

    id: str
    connection_id: str
    objects: tuple[str, ...]
    trigger: str
    started_at: float
    outcome: RunOutcome
    finished_at: float | None = None
    records: int | None = None
    requests: int | None = None
    error: str | None = None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "objects": list(self.objects),
            "trigger": self.trigger,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome.value,
            "records": self.records,
            "requests": self.requests,
            "error": self.error,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class ConnectionInfo:
    """A saved connection as anyone outside this package sees it: never the key itself."""

    id: str
    name: str
    mode: str
    key_masked: str
    key_last4: str
    can_read_events: bool
    refresh_every: int | None
    created_at: float
    updated_at: float
    last_test: KeyTestResult | None
    datasets: tuple[DatasetInfo, ...] = field(default=())
    last_run: RunInfo | None = None

    @property
    def refresh(self) -> str:
        return format_refresh(self.refresh_every)

    @property
    def objects(self) -> tuple[str, ...]:
        return tuple(d.object for d in self.datasets)

    @property
    def blocked(self) -> tuple[DatasetInfo, ...]:
        return tuple(d for d in self.datasets if d.blocked)

    @property
    def last_refresh_at(self) -> float | None:
        times = [d.last_refresh_at for d in self.datasets if d.last_refresh_at is not None]
        return max(times) if times else None

    @property
    def status(self) -> str:
        """One word for lists: ``ok``, ``blocked`` (some objects), ``failed``, ``auth_failed``."""
        if self.last_test is not None and not self.last_test.authenticated:
            return "auth_failed"
        if self.last_run is not None and self.last_run.outcome is RunOutcome.FAILED:
            return "failed"
        if any(d.status is DatasetStatus.FAILED for d in self.datasets):
            return "failed"
        if self.blocked:
            return "blocked"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mode": self.mode,
            "key": {"masked": self.key_masked, "last4": self.key_last4},
            "objects": list(self.objects),
            "blocked": [d.object for d in self.blocked],
            "can_read_events": self.can_read_events,
            "refresh": self.refresh,
            "refresh_seconds": self.refresh_every,
            "status": self.status,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "last_refresh_at": iso(self.last_refresh_at),
            "last_test": self.last_test.to_dict() if self.last_test else None,
            "last_run": self.last_run.to_dict() if self.last_run else None,
            "datasets": [d.to_dict() for d in self.datasets],
        }
