"""Picking a currency: every chart shows that currency's part of what "all currencies, each
apart" shows, or says on the chart that it is not per currency, and why.

The check is the same for every chart of every built-in dashboard, and for charts a user made:
evaluated with ``currency=X``, a chart equals the all-currency chart restricted to X's values,
series and rows. A chart that is per currency has no value outside a currency (``none``: rows
with no currency, such as customers never billed); one that is not says so in ``currency_note``
and shows the same thing whichever currency is picked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flitch import catalog
from flitch.dashboards import BUILTIN, Period, dashboard_from_dict, evaluate
from flitch.dashboards.explain import NO_CURRENCY
from flitch.emulator.store import Account
from flitch.metrics.series import Grain
from flitch.store import MemoryDatasets
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
#: The issue's view (the last 12 months, by month) and a month by day.
PERIODS = (
    (Period(ACCOUNT_NOW - 365 * DAY, ACCOUNT_NOW), Grain.MONTH),
    (Period(ACCOUNT_NOW - 30 * DAY, ACCOUNT_NOW), None),
)
#: The only built-in charts that are not per currency.
NOT_PER_CURRENCY = {("billing", "coupon-redemptions")}


@pytest.fixture(scope="module")
def memory(account: Account) -> Iterator[MemoryDatasets]:
    m = MemoryDatasets()
    for spec in catalog.OBJECTS:
        m.load(spec, account.test.ordered(spec.object_type).objects)
    yield m
    m.close()


def restricted(chart: dict[str, Any], currency: str) -> dict[str, Any]:
    """The chart as all currencies show it, cut to ``currency``'s values, series and rows."""
    out = dict(chart)
    for key in ("values", "previous", "change"):
        if isinstance(chart.get(key), dict):
            out[key] = {k: v for k, v in chart[key].items() if k == currency}
    if "series" in chart:
        out["series"] = [s for s in chart["series"] if s["currency"] == currency]
    if "rows" in chart:
        out["rows"] = [r for r in chart["rows"] if r.get("currency") == currency]
    return out


def without_drill(chart: dict[str, Any]) -> dict[str, Any]:
    """The chart without its drill-downs by key (the empty tile's one names the currency
    picked), checked apart."""
    return {k: v for k, v in chart.items() if k != "drill"}


def keys_of(chart: dict[str, Any]) -> set[Any]:
    """Every currency key a chart shows a value under."""
    keys: set[Any] = set()
    for key in ("values", "previous", "change"):
        keys |= set(chart.get(key) or {})
    keys |= {s["currency"] for s in chart.get("series", [])}
    keys |= {r.get("currency") for r in chart.get("rows", [])}
    return keys


def check_currency(
    memory: MemoryDatasets, board_json: dict[str, Any], evaluate_one: Any
) -> list[tuple[str, str]]:
    """Check every chart of ``board_json`` (all currencies) against the same board evaluated
    for each of its currencies; the charts that are not per currency, by id."""
    currencies = board_json["currencies"]
    assert len(currencies) > 1
    whole = {c["id"]: c for c in board_json["charts"]}
    not_per_currency = [
        (board_json["dashboard"]["name"], c["id"]) for c in whole.values() if not c["per_currency"]
    ]
    for chart in whole.values():
        if chart["per_currency"]:
            assert chart["currency_note"] is None
            # each value belongs to a currency (or to none): nothing adds currencies together
            assert keys_of(chart) <= {*currencies, NO_CURRENCY}, chart["title"]
        else:
            assert chart["currency_note"], chart["title"]
    apart = {c.get("metric") for c in whole.values() if not c["per_currency"]}
    shown_somewhere = set()
    for currency in currencies:
        one = evaluate_one(currency.upper())
        assert one["currency"] == currency
        for chart in one["charts"]:
            all_of_it = whole[chart["id"]]
            if not all_of_it["per_currency"]:
                assert chart == all_of_it, chart["title"]
                continue
            expected = restricted(all_of_it, currency)
            assert without_drill(chart) == without_drill(expected), (currency, chart["title"])
            assert set(chart.get("drill") or {}) <= {currency}, chart["title"]
            for key, drill in (expected.get("drill") or {}).items():
                if key == currency:
                    assert chart["drill"][key] == drill
            if keys_of(chart):
                shown_somewhere.add((currency, chart["id"]))
        for name, values in one["metrics"].items():
            if name not in apart:
                assert set(values) <= {currency}, name
    # and the comparison is not empty: every currency has charts showing it
    assert {c for c, _ in shown_somewhere} == set(currencies)
    return not_per_currency


@pytest.mark.parametrize(("period", "grain"), PERIODS, ids=("12m-by-month", "30d"))
def test_every_builtin_chart_shows_the_currency_picked(
    memory: MemoryDatasets, period: Period, grain: Grain | None
) -> None:
    found = []
    for board in BUILTIN.values():
        whole = evaluate(memory, board, period, grain=grain)

        def one(currency: str, board: Any = board) -> dict[str, Any]:
            return evaluate(memory, board, period, grain=grain, currency=currency)

        found += check_currency(memory, whole, one)
    assert set(found) == NOT_PER_CURRENCY


def test_charges_by_status_counts_what_the_tiles_count(memory: MemoryDatasets) -> None:
    """The issue's view: under USD, the pie's succeeded and failed slices are the USD tiles."""
    period, grain = PERIODS[0]
    usd = evaluate(memory, BUILTIN["payments"], period, grain=grain, currency="usd")
    pie = next(c for c in usd["charts"] if c["id"] == "charges-by-status")
    slices = {r["group"]: r["count"] for r in pie["rows"]}
    assert {r["currency"] for r in pie["rows"]} == {"usd"}
    assert slices["failed"] == usd["metrics"]["failed_payments"]["usd"]
    # succeeded charges that are not paid are not successful payments
    assert slices["succeeded"] >= usd["metrics"]["successful_payments"]["usd"] > 0


def test_subscriber_counts_add_up_per_currency(memory: MemoryDatasets) -> None:
    """Per currency, the subscribers now are those at the period's start, plus the new ones,
    less those who churned: the churn counts and MRR's subscribers are one definition."""
    period, grain = PERIODS[0]
    board = evaluate(memory, BUILTIN["billing"], period, grain=grain)
    metrics, before = board["metrics"], board["metrics_previous"]
    currencies = set(metrics["new_subscribers"]) | set(metrics["active_subscribers"])
    assert len(metrics["active_subscribers"]) > 1
    moved = []
    for currency in currencies:
        start = before["active_subscribers"].get(currency, 0)
        new = metrics["new_subscribers"].get(currency, 0)
        churned = metrics["churned_subscribers"].get(currency, 0)
        now = metrics["active_subscribers"].get(currency, 0)
        assert start + new - churned == now, (currency, start, new, churned)
        if new and churned:
            moved.append(currency)
    assert moved  # a currency with subscribers both won and lost: the check is not vacuous


def test_a_chart_not_per_currency_says_why(memory: MemoryDatasets) -> None:
    period, grain = PERIODS[0]
    usd = evaluate(memory, BUILTIN["billing"], period, grain=grain, currency="usd")
    coupons = next(c for c in usd["charts"] if c["id"] == "coupon-redemptions")
    assert coupons["per_currency"] is False
    assert "times_redeemed" in coupons["currency_note"]
    assert set(coupons["values"]) == {"all"}


#: A user's dashboard, as the chart builder stores it: counts, money, a grouping, a series, a
#: dataset with no currency, a metric.
USER_BOARD = {
    "name": "mine",
    "title": "Mine",
    "charts": [
        {
            "title": "Paid charges",
            "type": "number",
            "dataset": "charges",
            "measures": [{"agg": "count"}],
            "filters": [{"column": "status", "op": "eq", "value": "succeeded"}],
        },
        {
            "title": "Subscriptions",
            "type": "pie",
            "dataset": "subscriptions",
            "measures": [{"agg": "count"}],
            "group": {"column": "status"},
            "whole": True,
        },
        {
            "title": "Customers by delinquency",
            "type": "table",
            "dataset": "customers",
            "measures": [{"agg": "count"}],
            "group": {"column": "delinquent"},
            "whole": True,
        },
        {
            "title": "Refunded",
            "type": "bar",
            "dataset": "charges",
            "measures": [{"agg": "count"}, {"agg": "sum", "column": "amount_refunded"}],
            "group": {"grain": "month"},
        },
        {
            "title": "Products",
            "type": "number",
            "dataset": "products",
            "measures": [{"agg": "count"}],
            "whole": True,
        },
        {"title": "Fees", "type": "line", "metric": "fees", "group": {"grain": "month"}},
    ],
}


def test_a_users_charts_show_the_currency_picked(memory: MemoryDatasets, account: Account) -> None:
    board = dashboard_from_dict(USER_BOARD)
    period, grain = PERIODS[0]
    whole = evaluate(memory, board, period, grain=grain)
    found = check_currency(
        memory, whole, lambda c: evaluate(memory, board, period, grain=grain, currency=c)
    )
    assert found == [("mine", "products")]
    products = next(c for c in whole["charts"] if c["id"] == "products")
    assert products["currency_note"].startswith("Products have no currency")
    # counted from the account's own objects: the succeeded charges of the period, by currency
    succeeded = [
        c
        for c in account.test.ordered("charge").objects
        if c["status"] == "succeeded" and period.start <= c["created"] < period.end
    ]
    paid = next(c for c in whole["charts"] if c["id"] == "paid-charges")
    assert paid["values"] == {
        cur: sum(1 for c in succeeded if c["currency"] == cur)
        for cur in sorted({c["currency"] for c in succeeded})
    }
    # customers never billed have no currency: their row is apart from every currency's
    customers = next(c for c in whole["charts"] if c["id"] == "customers-by-delinquency")
    assert NO_CURRENCY in {r["currency"] for r in customers["rows"]}
    none = [r for r in customers["rows"] if r["currency"] == NO_CURRENCY]
    for row in none:
        sql = f"SELECT count(*) FROM customers WHERE {row['drill']['where']}"
        assert memory.query(sql).rows[0][0] == row["count"]
