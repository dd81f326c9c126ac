"""Stripe's clock, as far as this machine can tell: cursors are kept in Stripe's time.

An incremental refresh asks Stripe for the events created since its cursor, and the cursor is
"when the last refresh began, less a lag". Taken from this machine's clock, a clock that runs
ahead of Stripe's by more than the lag would put the cursor after events Stripe had not yet
shown — and those changes would never be read. So every response's ``Date`` header (Stripe's
time when it answered, to the second) is compared with this machine's clock when the answer
arrived:

    received - Date  >=  how far this machine is ahead of Stripe

(the header is rounded down and the answer took time to arrive, so each sample can only
overstate it). The smallest sample seen is the best bound; ``to_stripe`` moves a time of this
machine's clock back by it, so a cursor is never later than Stripe's own time. A machine behind
Stripe needs nothing: its times are earlier already, and a cursor too early only reads a few
events twice.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from flitch import clock as clocks

log = logging.getLogger(__name__)

#: Beyond this many seconds ahead, the log says so (a cursor allows for it either way).
NOTICE_SECONDS = 5.0


class StripeClock:
    """How far this machine's clock (``wall``, Unix seconds) runs ahead of Stripe's, learned from
    the ``Date`` headers of Stripe's answers."""

    def __init__(self, wall: Callable[[], float] = clocks.now) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._ahead: float | None = None
        self._told = False

    def observe(self, date_header: str | None) -> None:
        """Take one answer's ``Date`` header into account (missing or unreadable: ignored)."""
        received = self._wall()
        if not date_header:
            return
        try:
            stripe_time = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        if not math.isfinite(stripe_time):
            return
        sample = received - stripe_time
        with self._lock:
            if self._ahead is None or sample < self._ahead:
                self._ahead = sample
            ahead = self._ahead
            tell = ahead > NOTICE_SECONDS and not self._told
            self._told = self._told or tell
        if tell:
            log.warning(
                "this machine's clock is about %.0f s ahead of Stripe's; refresh cursors allow "
                "for it, but set up time synchronisation (NTP) on this machine",
                ahead,
            )

    @property
    def ahead(self) -> float:
        """Seconds this machine's clock may be ahead of Stripe's (0 when it is not, or when no
        answer was seen yet)."""
        with self._lock:
            return max(0.0, self._ahead) if self._ahead is not None else 0.0

    def to_stripe(self, local: float) -> float:
        """A time of this machine's clock as no later than Stripe's time at that moment."""
        return local - self.ahead
