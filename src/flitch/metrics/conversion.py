"""Money in one reporting currency, converted at the rates Stripe itself applied.

When a charge settles in another currency than it was made in, its balance transaction carries
``exchange_rate``: the charge's amount × rate is the settled amount. Those are the only rates
Flitch uses (no exchange-rate feed is fetched). For a pair of currencies, an amount at an
instant is converted at the rate of the settled transaction nearest to it in time (the earlier
one on a tie). A currency never settled into the reporting currency has no rate: it is not
converted, and stays apart, shown as such.

Stripe's rate multiplies the API's integer amounts as they are (its docs: 1000 EUR cents at
1.234 settle as 1234 USD cents), so it already holds the step between minor units: a yen
charge settled in dollars has a rate near 0.65 (1,000 yen, amount 1000, settle as 650 cents),
a hundred times the 0.0065 quoted between the currencies themselves. WooCommerce Payments
learned this the hard way (its analytics were two decimals off for yen orders until it
divided Stripe's rate by 100, Automattic/woocommerce-payments#2930). No scaling here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flitch.metrics.compute import Queryable, run

#: Every settlement of a charge into ``$target`` at a rate, oldest first.
RATES_SQL = """SELECT c.currency AS source, b.exchange_rate AS rate, b.created AS at,
  b.id AS transaction
FROM balance_transactions b JOIN charges c ON c.balance_transaction = b.id
WHERE b.exchange_rate IS NOT NULL AND b.currency = $target AND c.currency <> $target
ORDER BY c.currency, b.created, b.id"""

LABEL = "converted at Stripe's settlement rates"


@dataclass(frozen=True)
class Rate:
    """One rate Stripe applied: ``source`` → the reporting currency, at ``at``, on
    ``transaction`` (the balance transaction it drills down to)."""

    source: str
    rate: float
    at: str
    transaction: str

    @property
    def seconds(self) -> float:
        return datetime.fromisoformat(self.at.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Converted:
    """Amounts in the reporting currency: their ``total``, what had no rate (``apart``, per
    currency, unconverted) and the rates ``used``."""

    currency: str
    total: int
    apart: dict[str, int] = field(default_factory=dict)
    used: tuple[Rate, ...] = ()


def load_rates(source: Queryable, target: str) -> list[Rate]:
    """Every rate Stripe settled a charge into ``target`` at, per currency, oldest first."""
    rows = run(source, RATES_SQL, {"target": target}).dicts()
    return [Rate(r["source"], float(r["rate"]), r["at"], r["transaction"]) for r in rows]


def _nearest(of: Sequence[Rate], times: Sequence[float], at: float) -> Rate | None:
    if not of:
        return None
    i = bisect_left(times, at)
    near = [r for r in (of[i - 1] if i > 0 else None, of[i] if i < len(of) else None) if r]
    return min(near, key=lambda r: (abs(r.seconds - at), r.seconds))


def rate_for(rates: Sequence[Rate], currency: str, at: float) -> Rate | None:
    """The rate of ``currency`` settled nearest to ``at`` (Unix seconds), if it ever was."""
    of = [r for r in rates if r.source == currency]
    return _nearest(of, [r.seconds for r in of], at)


class RateBook:
    """Rates indexed per currency, for converting many amounts (a dashboard's every bucket)
    without scanning every rate each time."""

    def __init__(self, target: str, rates: Sequence[Rate]) -> None:
        self.target = target
        self._of: dict[str, list[Rate]] = {}
        for r in rates:
            self._of.setdefault(r.source, []).append(r)
        self._times = {c: [r.seconds for r in of] for c, of in self._of.items()}

    def nearest(self, currency: str, at: float) -> Rate | None:
        return _nearest(self._of.get(currency, []), self._times.get(currency, []), at)

    def convert(self, amounts: Mapping[str, int | float], at: float) -> Converted:
        """``amounts`` (minor units, per currency) at the instant ``at`` in the target."""
        total = 0.0
        apart: dict[str, int] = {}
        used: list[Rate] = []
        for currency, amount in sorted(amounts.items()):
            if currency == self.target:
                total += amount
                continue
            rate = self.nearest(currency, at)
            if rate is None:
                apart[currency] = round(amount)
                continue
            total += amount * rate.rate
            used.append(rate)
        return Converted(self.target, round(total), apart, tuple(used))


def convert(
    amounts: Mapping[str, int | float], target: str, rates: Sequence[Rate], at: float
) -> Converted:
    """``amounts`` (minor units, per currency) at the instant ``at`` in ``target``."""
    return RateBook(target, rates).convert(amounts, at)
