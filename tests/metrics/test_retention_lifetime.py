"""Lifetime value, average sale price and trial conversion, by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flitch import clock as clocks
from flitch.metrics import compute, compute_report, compute_series, get, get_report
from flitch.metrics.series import Grain
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, invoice, load, price, subscription, ts
from tests.metrics.test_retention import account

P = price("p_m", 1000)


def _value(memory: MemoryDatasets, name: str, start: int, end: int) -> Any:
    return compute(memory, [get(name)], start, end)[name].values.get("usd")


# -- lifetime value ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three() -> Iterator[MemoryDatasets]:
    """X and Y pay 10.00 a month since January; Z did too, until 1 June."""
    old = ts("2026-01-01")
    subs = [
        subscription("sub_x", "cus_x", old, items=[(P, 1)]),
        subscription("sub_y", "cus_y", old, items=[(P, 1)]),
        subscription(
            "sub_z", "cus_z", old, status="canceled", items=[(P, 1)], ended=ts("2026-06-01")
        ),
    ]
    m = load({"prices": [P], "subscriptions": subs})
    yield m
    m.close()


def test_lifetime_value_is_arpu_over_the_churn_rate(three: MemoryDatasets) -> None:
    # the 30 days ending 11 June: X, Y, Z subscribers at their start, Z churned: 1/3.
    # ARPU: 2000 ÷ 2 = 1000, so a subscriber is worth 3000
    end = ts("2026-06-11")
    assert _value(three, "subscriber_churn_rate_30d", end - DAY, end) == pytest.approx(1 / 3)
    assert _value(three, "subscriber_ltv", end - DAY, end) == 3000


def test_lifetime_value_is_undefined_without_churn(three: MemoryDatasets) -> None:
    # the 30 days ending 21 May: nobody churned; ARPU is still 1000, the quotient has no value
    end = ts("2026-05-21")
    assert _value(three, "subscriber_churn_rate_30d", end - DAY, end) == 0
    assert _value(three, "arpu", end - DAY, end) == 1000
    assert _value(three, "subscriber_ltv", end - DAY, end) is None
    assert "Undefined when no subscriber churned" in get("subscriber_ltv").definition


# -- average sale price --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohorts() -> Iterator[MemoryDatasets]:
    m = account()
    yield m
    m.close()


def test_average_sale_price(cohorts: MemoryDatasets) -> None:
    # from 1 March: D starts on the 15th at 1000, B comes back on 1 April at 2000
    march, may = ts("2026-03-01"), ts("2026-05-01")
    assert _value(cohorts, "asp", march, may) == 1500
    series = compute_series(cohorts, get("asp"), march, may, Grain.MONTH)
    assert series["usd"] == [("2026-03-01T00:00:00Z", 1000), ("2026-04-01T00:00:00Z", 2000)]
    # from 1 January: each customer once, at their first start (A, B 1000; C 2000; D 1000)
    assert _value(cohorts, "asp", ts("2026-01-01"), may) == 1250
    # ARPA beside it: MRR now ÷ subscribers now (3000 + 2000 + 1000 + 1000) ÷ 4
    assert _value(cohorts, "arpu", march, may) == 1750


# -- trials --------------------------------------------------------------------------------------
def _trial(sid: str, trial: tuple[str, str], **kw: Any) -> dict[str, Any]:
    t0, t1 = ts(trial[0]), ts(trial[1])
    return subscription(sid, f"cus_{sid}", t0, items=[(P, 1)], trial=(t0, t1), **kw)


def _first_invoice(sid: str, at: str, total: int, status: str = "paid") -> dict[str, Any]:
    a = ts(at)
    return invoice(
        f"in_{sid}",
        f"cus_{sid}",
        a,
        subscription=sid,
        lines=[("p_m", total, a, a + 30 * DAY)],
        status=status,
    )


def _trial_invoice(sid: str, at: str) -> dict[str, Any]:
    a = ts(at)
    return invoice(
        f"in_{sid}_trial", f"cus_{sid}", a, subscription=sid, lines=[("p_m", 0, a, a + 14 * DAY)]
    )


@pytest.fixture
def trials(pin_clock: Callable[[float], clocks.Clock]) -> Iterator[MemoryDatasets]:
    pin_clock(ts("2026-06-01"))
    subs = [
        # converted: paid 10.00 at the trial's end
        _trial("t1", ("2026-01-01", "2026-01-15")),
        # converted to a free invoice (a 100 % coupon): no subscriber, not converted
        _trial("t2", ("2026-01-01", "2026-01-15")),
        # canceled during its trial: ended, not converted
        _trial("t3", ("2026-01-05", "2026-01-19"), status="canceled", ended=ts("2026-01-10")),
        # still in trial at the period's end: started, not ended
        _trial("t4", ("2026-01-20", "2026-02-03"), status="trialing"),
        # started in December, converted in January
        _trial("t5", ("2025-12-20", "2026-01-03")),
        # its first invoice after the trial is still open: not converted (yet)
        _trial("t6", ("2025-12-25", "2026-01-08"), status="past_due"),
    ]
    invoices = [
        _trial_invoice("t1", "2026-01-01"),
        _first_invoice("t1", "2026-01-15", 1000),
        _trial_invoice("t2", "2026-01-01"),
        _first_invoice("t2", "2026-01-15", 0),
        _trial_invoice("t3", "2026-01-05"),
        _trial_invoice("t4", "2026-01-20"),
        _first_invoice("t5", "2026-01-03", 1000),
        _first_invoice("t6", "2026-01-08", 1000, status="open"),
    ]
    m = load({"prices": [P], "subscriptions": subs, "invoices": invoices})
    yield m
    m.close()


def test_trial_conversion_and_its_funnel(trials: MemoryDatasets) -> None:
    start, end = ts("2026-01-01"), ts("2026-02-01")
    # ended in January: t1, t2, t3, t5, t6; converted: t1, t5
    assert _value(trials, "trial_conversion_rate", start, end) == pytest.approx(2 / 5)
    rows = compute_report(trials, get_report("trial_funnel"), start, end)
    assert [(r["step"], r["trials"], r["rate"]) for r in rows] == [
        ("started", 4, None),
        ("ended", 5, None),
        ("converted", 2, pytest.approx(2 / 5)),
    ]
