"""Which currency a live-mode charge settles in, and at what rate.

Stripe keeps a balance per currency the account can pay out (one with a bank account in it)
and converts a charge in any other currency into the default one when it settles: the balance
transaction is then in the settlement currency and carries ``exchange_rate``, which multiplies
the charge's integer amount into the transaction's (so yen to dollars is near 0.67 — cents per
yen — not 0.0067). Its refunds and chargebacks are converted the same way, at their own day's
rate.

The emulated account settles that way in live mode only: it has USD and EUR bank accounts, so
GBP and JPY become USD and EUR stays apart (never settled into USD: a reporting currency of USD
has no rate for it). Test mode keeps a balance in every currency, as before, so the
hand-computed expectations of the suite's test-mode accounts are unchanged. Rates drift a few
percent around the emulator's own price points (``catalog_seed.RATES``) with the day, the
same on every run; no random draw is taken, so every id stays what it was.
"""

from __future__ import annotations

import math

DAY = 86400
#: Live mode: a currency without a bank account → the one it settles into.
SETTLES_INTO = {"gbp": "usd", "jpy": "usd"}
#: Mid rates, minor unit to minor unit (US cents per penny, per yen).
MID = {"gbp": 1.27, "jpy": 0.67}


def rate(currency: str, t: int) -> float:
    """The rate of ``currency`` into its settlement currency on ``t``'s day (six decimals,
    as Stripe gives them)."""
    day = t // DAY
    drift = 1 + 0.03 * math.sin(day / 29) + 0.01 * math.sin(day / 5)
    return round(MID[currency] * drift, 6)


def settle(livemode: bool, currency: str, t: int, amount: int) -> tuple[str, int, float | None]:
    """``(currency, amount, exchange_rate)`` of the balance transaction for ``amount`` of
    ``currency`` at ``t``: as it is, or converted (``exchange_rate`` then set)."""
    into = SETTLES_INTO.get(currency) if livemode else None
    if into is None:
        return currency, amount, None
    r = rate(currency, t)
    return into, round(amount * r), r
