"""The shape of the seeded business over time: when people sign up.

A real subscription business does not double its sign-ups in the last week before anyone looks
at it: it grows steadily, slows down in summer and over the year-end holidays, and sees fewer
sign-ups at weekends. ``SignupCurve`` draws sign-up times from exactly that — a daily rate that
grows by ``GROWTH`` a year, times a seasonal factor of the calendar day and a weekday factor —
so every window of the history, the last week included, looks like any other of its season,
whatever date the account is generated at. Churn, plan changes and payment failures then follow
from each subscription's own life (``lifecycle``).

The business is older than its Stripe account: ``MIGRATED`` of the customers arrive in the
history's first month, as when a business moves its subscribers to Stripe. Without them the
subscriber base would start from nothing two years ago and still be filling up today, so that
every recent month would outdo the year before it.

The curve depends on the calendar only: the same ``start``/``end`` give the same draws for the
same random numbers.
"""

from __future__ import annotations

import bisect
import math
import random
from datetime import UTC, datetime
from itertools import accumulate

from flitch.emulator.operations import DAY

#: Sign-ups grow this much a year (20 %: a steady small SaaS).
GROWTH = 0.2
#: Seasonality of sign-ups by month (1 = an average month): a January rush, a summer lull,
#: a quiet end of December.
SEASON = (1.15, 1.08, 1.05, 1.0, 1.0, 0.95, 0.85, 0.82, 1.04, 1.06, 1.05, 0.92)
#: Sign-ups on a Saturday or a Sunday, against a weekday.
WEEKEND = 0.65
#: The share of customers who came with the business when it moved to Stripe, in the history's
#: first 30 days (spread over a month, so that their renewals fall on every day of one).
MIGRATED = 0.25
MIGRATION_DAYS = 30


def day_weight(day_start: int, years_before_end: float) -> float:
    """The relative sign-up rate of the day starting at ``day_start``."""
    moment = datetime.fromtimestamp(day_start + DAY // 2, UTC)
    weekday = WEEKEND if moment.weekday() >= 5 else 1.0
    return math.exp(-math.log1p(GROWTH) * years_before_end) * SEASON[moment.month - 1] * weekday


class SignupCurve:
    """Sign-up times in ``[start, end)``, drawn with the growth, season and weekday above."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        days = max(1, math.ceil((end - start) / DAY))
        weights = [
            day_weight(start + k * DAY, (end - start - k * DAY) / (365 * DAY)) for k in range(days)
        ]
        self._cumulative = list(accumulate(weights))

    def draw(self, rng: random.Random, *, movers: bool = True) -> int:
        """A second in ``[start, end)``: a day by its weight, then a time of that day; or, for
        a customer who came with the move to Stripe (``movers``: some may), a time of the
        history's first month."""
        if movers and rng.random() < MIGRATED:
            return min(self.start + rng.randrange(MIGRATION_DAYS * DAY), self.end - 1)
        total = self._cumulative[-1]
        day = bisect.bisect_right(self._cumulative, rng.random() * total)
        day = min(day, len(self._cumulative) - 1)
        low = self.start + day * DAY
        return min(low + rng.randrange(DAY), self.end - 1)
