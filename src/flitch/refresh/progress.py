"""What a refresh is doing, object by object, and what it did: the data behind every display.

The runner updates one :class:`RefreshProgress` as it goes and hands it to a callback (the CLI
draws rich progress bars on a terminal, plain lines elsewhere); when it ends, the same objects
become the :class:`RefreshResult` that ``--json`` prints and the metadata records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Strategy(StrEnum):
    """How one dataset is brought up to date."""

    #: every record read again; the dataset is replaced
    FULL = "full"
    #: changes since the cursor, from ``/v1/events``
    EVENTS = "events"
    #: new records since a ``created`` cursor (balance transactions never change)
    CREATED = "created"
    #: not refreshed this time; the previous data is kept as it is
    KEPT = "kept"


class Phase(StrEnum):
    WAITING = "waiting"
    READING = "reading"
    APPLYING = "applying"
    DONE = "done"
    #: the key lacks Read on it: previous data kept, status "missing permission"
    BLOCKED = "blocked"
    FAILED = "failed"


@dataclass
class DatasetProgress:
    """One dataset's part of a refresh."""

    name: str
    label: str
    strategy: Strategy
    #: why this strategy (e.g. "no cursor yet", "events cursor older than 30 days")
    reason: str = ""
    phase: Phase = Phase.WAITING
    #: records received from Stripe (list pages and objects re-read by id)
    records: int = 0
    pages: int = 0
    #: rows written or replaced, rows deleted, objects re-read by id
    upserted: int = 0
    deleted: int = 0
    refetched: int = 0
    #: rows in the dataset once committed
    rows: int | None = None
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    fix: str | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
        if self.phase is Phase.WAITING:
            self.phase = Phase.READING

    def finish(self, phase: Phase = Phase.DONE) -> None:
        self.phase = phase
        if self.finished is None:
            self.finished = time.monotonic()

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Records per second while it ran."""
        elapsed = self.elapsed
        return self.records / elapsed if elapsed > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.name,
            "strategy": self.strategy.value,
            "reason": self.reason,
            "status": self.phase.value,
            "records_read": self.records,
            "pages": self.pages,
            "upserted": self.upserted,
            "deleted": self.deleted,
            "refetched": self.refetched,
            "rows": self.rows,
            "seconds": round(self.elapsed, 3),
            "records_per_second": round(self.rate, 1),
            "error": self.error,
            "fix": self.fix,
        }


@dataclass
class RefreshProgress:
    """A whole refresh of one connection: its datasets and the requests sent so far."""

    connection: str
    connection_id: str
    full: bool
    datasets: dict[str, DatasetProgress] = field(default_factory=dict)
    #: requests sent (retries included), retries, and 429 answers so far
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    #: events read from /v1/events (all of them, before keeping the newest per object)
    events: int = 0
    started: float = field(default_factory=time.monotonic)
    #: what the runner is doing, in a few words ("reading events", "committing"…)
    stage: str = "starting"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def records(self) -> int:
        return sum(d.records for d in self.datasets.values())


ProgressCallback = Callable[[RefreshProgress], None]
