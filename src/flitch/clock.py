"""Time as an input: the one clock Flitch and its emulator read.

Every "now" below the faces — refresh cursors, the scheduler, sessions and sign-in throttling,
dashboard periods, ``now()`` in SQL, the emulator's ``Date`` header and event retention — comes
from a :class:`Clock`. Functions take one (``clock=``) where a test needs to pin or move time;
left out, they read the process's clock, :func:`now`.

The process's clock is this machine's clock shifted by ``FLITCH_CLOCK_OFFSET`` seconds (0 unless
set). Because it is an offset and not an instant, every process started with the same value —
the web app, a ``flitch`` command, an emulator — agrees on the time to the second, and the clock
keeps running. Tests use it to run the whole product, emulator included, a year or ten ahead or
at an awkward instant (a month's last second, 29 February).

Only time *of day* lives here. Durations (pacing, timeouts, progress) are measured with
``time.monotonic``, which no offset should ever move.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime

#: The environment variable holding the process clock's offset, in seconds (may be negative).
OFFSET_ENV = "FLITCH_CLOCK_OFFSET"


class ClockError(ValueError):
    """A clock setting that cannot be read; the message says what to write instead."""


class Clock:
    """Unix seconds now: this machine's clock plus ``offset``, or a frozen instant.

    A clock is called like ``time.time`` (``clock()``), so it goes wherever a
    ``Callable[[], float]`` is expected.
    """

    def __init__(self, offset: float = 0.0, *, frozen_at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = float(offset)
        self._frozen: float | None = None if frozen_at is None else float(frozen_at)

    @classmethod
    def starting_at(cls, instant: float) -> Clock:
        """A running clock that reads ``instant`` now and moves on from there."""
        return cls(offset=float(instant) - time.time())

    @classmethod
    def frozen(cls, instant: float) -> Clock:
        """A clock that reads ``instant`` until it is moved (:meth:`advance`, :meth:`set`)."""
        return cls(frozen_at=instant)

    @property
    def offset(self) -> float:
        """Seconds between this clock and this machine's (for a frozen clock: at this moment)."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen - time.time()
            return self._offset

    def now(self) -> float:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return time.time() + self._offset

    __call__ = now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (frozen or running alike)."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def set(self, instant: float) -> None:
        """Make the clock read ``instant`` now (a running clock keeps running from there)."""
        with self._lock:
            if self._frozen is not None:
                self._frozen = float(instant)
            else:
                self._offset = float(instant) - time.time()

    def datetime(self) -> datetime:
        """Now as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def __repr__(self) -> str:
        stamp = self.datetime().isoformat(timespec="seconds")
        kind = "frozen" if self._frozen is not None else f"offset {self._offset:+.0f} s"
        return f"Clock({stamp}, {kind})"


def parse_offset(text: str | None) -> float:
    """The offset a ``FLITCH_CLOCK_OFFSET`` value means (empty: 0)."""
    if text is None or not text.strip():
        return 0.0
    try:
        value = float(text.strip())
    except ValueError:
        raise ClockError(
            f"{OFFSET_ENV} must be a number of seconds (e.g. 31536000 for a year ahead), "
            f"not {text!r}"
        ) from None
    if value != value or abs(value) > 200 * 366 * 86400:
        raise ClockError(f"{OFFSET_ENV} must be a finite number of seconds within 200 years")
    return value


_process: Clock | None = None
_process_lock = threading.Lock()


def process_clock() -> Clock:
    """The clock of this process: this machine's, shifted by ``FLITCH_CLOCK_OFFSET``."""
    global _process
    clock = _process
    if clock is None:
        with _process_lock:
            if _process is None:
                _process = Clock(parse_offset(os.environ.get(OFFSET_ENV)))
            clock = _process
    return clock


def now() -> float:
    """Unix seconds now, by the process's clock (the default wherever a clock can be passed)."""
    return process_clock().now()


def set_process_clock(clock: Clock | None) -> None:
    """Replace the process's clock (tests); ``None`` reads ``FLITCH_CLOCK_OFFSET`` again."""
    global _process
    with _process_lock:
        _process = clock


def sql_clock(instant: float) -> list[str]:
    """Statements that make DuckDB's ``now()``, ``current_timestamp``, ``current_date``,
    ``today()`` and their kin answer ``instant`` on one connection.

    DuckDB reads this machine's clock for them; a temporary macro of the same name takes
    precedence over the built-in function, for this connection only. Run them before a
    statement whose text may ask for the time (a user's SQL, a pushed-down filter).
    """
    moment = datetime.fromtimestamp(instant, UTC)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    ts = f"TIMESTAMPTZ '{stamp}+00'"
    day = f"DATE '{moment.date().isoformat()}'"
    time_of_day = f"TIMETZ '{moment.strftime('%H:%M:%S.%f')}+00'"
    macros = {
        "now": ts,
        "current_timestamp": ts,
        "get_current_timestamp": ts,
        "transaction_timestamp": ts,
        "current_localtimestamp": f"TIMESTAMP '{stamp}'",
        "localtimestamp": f"TIMESTAMP '{stamp}'",
        "current_date": day,
        "today": day,
        "current_time": time_of_day,
        "get_current_time": time_of_day,
    }
    return [f"CREATE OR REPLACE TEMP MACRO {name}() AS {value}" for name, value in macros.items()]


_TIME_WORDS = re.compile(
    r"\b(now|current_timestamp|get_current_timestamp|transaction_timestamp|current_localtimestamp"
    r"|localtimestamp|current_date|today|current_time|get_current_time)\b",
    re.IGNORECASE,
)


def mentions_time(sql: str) -> bool:
    """True if ``sql`` may ask DuckDB for the time (then :func:`sql_clock` must run first)."""
    return _TIME_WORDS.search(sql) is not None
