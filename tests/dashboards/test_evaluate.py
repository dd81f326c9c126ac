"""The built-in dashboards evaluated over the generated account: every number carries its
definition from the registry and a drill-down that selects the rows behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flitch import catalog
from flitch.dashboards import BUILTIN, Period, evaluate, plan_reads
from flitch.dashboards.model import Chart, ChartType, Dashboard, Grouping
from flitch.emulator.store import Account
from flitch.metrics import BY_NAME, REPORTS_BY_NAME, Grain, compute, compute_series
from flitch.store import MemoryDatasets
from tests.timeline import ACCOUNT_NOW

DAY = 86_400
PERIOD = Period(ACCOUNT_NOW - 90 * DAY, ACCOUNT_NOW)
#: Count metrics whose drill-down selects exactly the rows counted.
EXACT_COUNTS = (
    "successful_payments",
    "failed_payments",
    "disputes",
    "new_customers",
    "trialing_subscriptions",
    "trials_started",
    "past_due_invoices",
    "credit_notes_issued",
)


@pytest.fixture(scope="module")
def memory(account: Account) -> Iterator[MemoryDatasets]:
    m = MemoryDatasets()
    for spec in catalog.OBJECTS:
        m.load(spec, account.test.ordered(spec.object_type).objects)
    yield m
    m.close()


@pytest.fixture(scope="module")
def boards(memory: MemoryDatasets) -> dict[str, dict[str, Any]]:
    return {name: evaluate(memory, board, PERIOD) for name, board in BUILTIN.items()}


def count(memory: MemoryDatasets, drill: dict[str, Any]) -> int:
    sql = f"SELECT count(*) FROM {drill['dataset']} WHERE {drill['where']}"
    return int(memory.query(sql).rows[0][0])


def test_headline_metrics_are_named_as_the_issue_asks(boards: dict[str, Any]) -> None:
    assert {"mrr", "arr", "active_subscribers"} <= set(boards["billing"]["metrics"])
    assert {"gross_volume"} <= set(boards["payments"]["metrics"])
    assert {"net_volume", "fees", "payouts"} <= set(boards["revenue"]["metrics"])
    for board in boards.values():
        for values in board["metrics"].values():
            assert all(isinstance(v, int | float) for v in values.values())


def test_every_number_has_its_definition_and_drills_down(
    boards: dict[str, Any], memory: MemoryDatasets
) -> None:
    for board in boards.values():
        for chart in board["charts"]:
            if chart["type"] != "number":
                continue
            metric = BY_NAME[chart["metric"]]
            assert chart["definition"] == metric.definition
            assert set(chart["drill"]) == set(chart["values"]) or set(chart["drill"]) == {"all"}
            for key, drill in chart["drill"].items():
                assert drill["dataset"] == metric.drill_dataset
                rows = count(memory, drill)  # it runs
                if chart["metric"] in EXACT_COUNTS and key in chart["values"]:
                    assert rows == chart["values"][key], (chart["metric"], key)
                if chart["values"].get(key):
                    assert rows > 0, (chart["metric"], key)


def test_every_series_and_row_drills_down(boards: dict[str, Any], memory: MemoryDatasets) -> None:
    for board in boards.values():
        for chart in board["charts"]:
            for series in chart.get("series", []):
                assert series["drill"]["time_column"]
                count(memory, series["drill"])
            for row in chart.get("rows", []):
                count(memory, row["drill"])
            if chart.get("metric") in REPORTS_BY_NAME:
                assert chart["definition"] == REPORTS_BY_NAME[chart["metric"]].definition


def test_numbers_compare_with_the_previous_period(boards: dict[str, Any]) -> None:
    gross = next(c for c in boards["payments"]["charts"] if c["metric"] == "gross_volume")
    for currency, now in gross["values"].items():
        before = gross["previous"].get(currency, 0)
        expected = None if before == 0 else round((now - before) / before, 6)
        assert gross["change"][currency] == expected
    assert gross["compare"] == "previous_period"
    assert boards["payments"]["metrics_previous"]["gross_volume"] == gross["previous"]
    assert boards["payments"]["metrics_change"]["gross_volume"] == gross["change"]


def test_present_day_numbers_compare_with_the_periods_start(boards: dict[str, Any]) -> None:
    billing = boards["billing"]
    for name in ("mrr", "arr", "active_subscribers", "arpu"):
        chart = next(c for c in billing["charts"] if c.get("metric") == name)
        assert chart["current"] is True
        assert chart["compare"] == "start"
        assert chart["previous"], name  # the account had subscribers 90 days ago
        for currency, now in chart["values"].items():
            before = chart["previous"].get(currency, 0)
            expected = None if before == 0 else round((now - before) / before, 6)
            assert chart["change"][currency] == expected
        assert billing["metrics_previous"][name] == chart["previous"]
        assert billing["metrics_change"][name] == chart["change"]
    # a present-day number without a history to rebuild has nothing to compare with
    trials = next(c for c in billing["charts"] if c.get("metric") == "trialing_subscriptions")
    assert (trials["previous"], trials["change"], trials["compare"]) == (None, None, None)
    assert billing["metrics_previous"]["trialing_subscriptions"] is None


def test_currencies_are_never_added_together(boards: dict[str, Any]) -> None:
    assert len(boards["payments"]["currencies"]) > 1
    assert set(boards["payments"]["currencies"]) <= {"eur", "gbp", "jpy", "usd"}
    for board in boards.values():
        for chart in board["charts"]:
            if chart.get("unit") == "money":
                keys = set(chart.get("values", {})) | {
                    s["currency"] for s in chart.get("series", [])
                }
                assert "all" not in keys, chart["title"]


def test_one_currency_picked(memory: MemoryDatasets, boards: dict[str, Any]) -> None:
    picked = boards["revenue"]["currencies"][-1]
    board = evaluate(memory, BUILTIN["revenue"], PERIOD, currency=picked.upper())
    assert set(board["metrics"]["net_volume"]) == {picked}
    bridge = next(c for c in board["charts"] if c.get("metric") == "balance_bridge")
    assert {r["currency"] for r in bridge["rows"]} == {picked}


def test_the_movements_waterfall_ends_at_the_reconstructed_mrr(boards: dict[str, Any]) -> None:
    chart = next(c for c in boards["billing"]["charts"] if c.get("metric") == "mrr_movements")
    assert chart["grain"] == "week"
    for currency in {r["currency"] for r in chart["rows"]}:
        steps = {
            r["movement"]: r["amount"]
            for r in chart["rows"]
            if r["bucket"] is None and r["currency"] == currency
        }
        moved = sum(
            steps[k] for k in ("new", "expansion", "reactivation", "contraction", "churned")
        )
        assert steps["growth"] == moved
        assert steps["mrr_start"] + moved == steps["mrr_end"]


def test_a_live_load_reads_each_list_once_narrowed_where_it_can() -> None:
    reads = {r.dataset: r for r in plan_reads(BUILTIN["payments"].charts, PERIOD)}
    assert set(reads) == {"charges", "disputes", "customers"}
    for read in reads.values():  # the period and the one before it, nothing older
        assert read.created_gte == PERIOD.previous.start
        assert read.created_lt == PERIOD.end
    billing = {r.dataset: r for r in plan_reads(BUILTIN["billing"].charts, PERIOD)}
    assert billing["subscriptions"].is_whole  # MRR needs every current subscription
    assert billing["credit_notes"].created_gte == PERIOD.previous.start


def test_charts_side_by_side_give_what_one_after_the_other_gives(
    memory: MemoryDatasets, boards: dict[str, dict[str, Any]]
) -> None:
    for name, board in BUILTIN.items():
        alone = evaluate(memory, board, PERIOD, workers=1)
        for key in ("metrics", "metrics_previous", "metrics_change", "charts", "currencies"):
            assert alone[key] == boards[name][key], (name, key)


def test_a_family_drawn_at_two_grains(memory: MemoryDatasets) -> None:
    charts = (
        Chart(title="rate", type=ChartType.NUMBER, metric="subscriber_churn_rate"),
        Chart(
            title="weekly",
            type=ChartType.LINE,
            metric="subscriber_churn_rate",
            group=Grouping(grain=Grain.WEEK),
        ),
        Chart(
            title="monthly",
            type=ChartType.BAR,
            metric="new_subscribers",
            group=Grouping(grain=Grain.MONTH),
        ),
    )
    board = Dashboard(name="grains", title="Grains", charts=charts).check()
    out = evaluate(memory, board, PERIOD)
    for title, metric, grain in (
        ("weekly", "subscriber_churn_rate", Grain.WEEK),
        ("monthly", "new_subscribers", Grain.MONTH),
    ):
        chart = next(c for c in out["charts"] if c["title"] == title)
        expected = compute_series(memory, BY_NAME[metric], PERIOD.start, PERIOD.end, grain)
        got = {s["currency"]: [tuple(p) for p in s["points"]] for s in chart["series"]}
        assert got == expected, title
        assert chart["grain"] == grain.value
    rate = compute(memory, [BY_NAME["subscriber_churn_rate"]], PERIOD.start, PERIOD.end)
    assert out["metrics"]["subscriber_churn_rate"] == rate["subscriber_churn_rate"].values
