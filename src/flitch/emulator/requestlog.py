"""The emulator's request log: what every client asked and what it was answered.

Tests read it to prove things about a client ("it only sent GETs", "it backed off after the
429", "it never asked for subscriptions"). Every request under ``/v1/`` is recorded, including
the refused, rate-limited and faulted ones; the admin API (``/_emulator/…``) is not, so reading
the log does not change it. A key is recorded by its last four characters only.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it."""

    method: str
    path: str
    #: The raw query string, as sent (``limit=100&created%5Bgte%5D=…``).
    query: str
    #: The last four characters of the key used, or ``None`` when no key was sent.
    key_last4: str | None
    status: int
    #: Unix time (float seconds) at which the request arrived.
    time: float
    #: Time spent answering, added latency included.
    duration_ms: float
    request_id: str
    #: ``"test"`` or ``"live"`` when the key was recognised, else ``None``.
    mode: str | None = None
    #: Why the emulator answered as it did when it was not a plain answer: ``"rate_limited"``,
    #: ``"concurrency_limited"``, ``"fault:error"``, ``"fault:drop"``, ``"read_only"``…
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A thread-safe, bounded list of ``RequestRecord``s (oldest first)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._entries: deque[RequestRecord] = deque(maxlen=max_entries)
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._entries.append(record)

    @property
    def entries(self) -> list[RequestRecord]:
        """A snapshot of the records, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> int:
        """Forget every record; returns how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def __len__(self) -> int:
        return len(self._entries)

    def methods(self) -> set[str]:
        """Every HTTP method seen (a read-only client shows ``{"GET"}``)."""
        return {r.method for r in self.entries}

    def paths(self) -> list[str]:
        """The path of every request, in order."""
        return [r.path for r in self.entries]
