"""Which way each dataset is refreshed, and the cursors that make the next run incremental.

A dataset's cursor is opaque JSON kept with the data in the store (``set_state``/``get_state``),
so the data and the cursor that describes it are published together, atomically:

- ``{"v": 1, "events_since": T}`` for a mutable object: every change after ``T`` is still to be
  read from ``/v1/events`` (``T`` is a refresh's start minus the lag);
- ``{"v": 1, "created_gte": T, "due_checked": D}`` for balance transactions: records created at
  or after ``T`` are read again; those before are final, except pending ones, re-read once
  their ``available_on`` passes (``D``: when that was last looked at).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flitch.catalog import EVENTS_RETENTION_DAYS, ObjectSpec
from flitch.refresh.progress import Strategy
from flitch.store.base import DatasetInfo

CURSOR_VERSION = 1
#: A cursor this close to the end of Stripe's event retention is treated as too old.
RETENTION_MARGIN = 3600
RETENTION_SECONDS = EVENTS_RETENTION_DAYS * 86400 - RETENTION_MARGIN


#: Objects that change without an event of their own (a coupon's ``times_redeemed`` and
#: ``valid`` move when a discount is created): read in full while they are this small.
READ_IN_FULL_WHILE_SMALL: dict[str, int] = {"coupons": 1000}


@dataclass(frozen=True)
class Planned:
    strategy: Strategy
    reason: str
    #: where to start: ``events_since`` for events, ``created_gte`` for created
    since: int | None = None
    #: created: pending records due (``available_on``) after this were not checked yet
    due_checked: int | None = None


def events_cursor(since: int) -> dict[str, Any]:
    return {"v": CURSOR_VERSION, "events_since": int(since)}


def created_cursor(gte: int, due_checked: int | None = None) -> dict[str, Any]:
    cursor: dict[str, Any] = {"v": CURSOR_VERSION, "created_gte": int(gte)}
    if due_checked is not None:
        cursor["due_checked"] = int(due_checked)
    return cursor


def _int(cursor: Any, key: str) -> int | None:
    if not isinstance(cursor, dict) or cursor.get("v") != CURSOR_VERSION:
        return None
    value = cursor.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plan(
    spec: ObjectSpec,
    state: DatasetInfo | None,
    *,
    full: bool,
    can_read_events: bool,
    now: float,
) -> Planned:
    """How to refresh ``spec`` given what the store holds for it."""
    if full:
        return Planned(Strategy.FULL, "full refresh asked for")
    if state is None:
        return Planned(Strategy.FULL, "first refresh")
    if not state.schema_current:
        return Planned(Strategy.FULL, "the dataset's columns changed")
    if not spec.mutable:
        gte = _int(state.cursor, "created_gte")
        if gte is None:
            return Planned(Strategy.FULL, "no cursor yet")
        due = _int(state.cursor, "due_checked")
        return Planned(Strategy.CREATED, "new records since the last one seen", gte, due)
    since = _int(state.cursor, "events_since")
    small = READ_IN_FULL_WHILE_SMALL.get(spec.name)
    if small is not None and state.rows <= small:
        return Planned(Strategy.FULL, f"changes without events; read in full while small ({small})")
    if not can_read_events:
        return Planned(
            Strategy.FULL, "the key cannot read events (grant Read Events for incremental refresh)"
        )
    if since is None:
        return Planned(Strategy.FULL, "no cursor yet")
    if now - since > RETENTION_SECONDS:
        return Planned(
            Strategy.FULL,
            f"last refresh older than the {EVENTS_RETENTION_DAYS} days events are kept",
        )
    return Planned(Strategy.EVENTS, "changes since the last refresh, from events", since)
