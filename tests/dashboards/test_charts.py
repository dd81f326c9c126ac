"""Charts built on a dataset: what is refused (with the fix), and what they show, by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flitch.dashboards import (
    Agg,
    Chart,
    ChartType,
    Dashboard,
    Filter,
    Grouping,
    Measure,
    Op,
    Period,
    evaluate,
)
from flitch.dashboards.query import build
from flitch.errors import InputError
from flitch.metrics.series import Grain
from flitch.store import MemoryDatasets
from tests.metrics.objects import DAY, charge, load, ts

T0 = ts("2026-10-01")
PERIOD = Period(T0, T0 + 3 * DAY)
COUNT = Measure(Agg.COUNT)
AMOUNT = Measure(Agg.SUM, "amount")


def chart(**kw: Any) -> Chart:
    base: dict[str, Any] = {"title": "t", "type": ChartType.TABLE, "dataset": "charges"}
    base.update(kw)
    if "measures" not in base and "metric" not in base:
        base["measures"] = (COUNT,)
    return Chart(**base)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (chart(group=Grouping(column="amount); DROP TABLE charges; --")), "has no column"),
        (chart(measures=(Measure(Agg.SUM, "status"),)), "not a number"),
        (chart(measures=(Measure(Agg.SUM),)), "needs a column"),
        (chart(measures=()), "no measure"),
        (chart(filters=(Filter("nope", Op.EQ, 1),)), "has no column 'nope'"),
        (chart(filters=(Filter("status", Op.IN, "failed"),)), "needs a list"),
        (chart(time_column="status"), "not a timestamp"),
        (chart(type=ChartType.LINE), "without a grouping"),
        (chart(group=Grouping(grain=Grain.DAY, column="status")), "both time and a column"),
        (chart(dataset="payments"), "no dataset"),
        (chart(dataset=None, metric="mrr", type=ChartType.LINE), "no history"),
        (chart(dataset=None, metric="nope"), "no metric"),
        (chart(dataset=None, metric="gross_volume", group=Grouping(column="status")), "column"),
        (chart(measures=(COUNT,), metric="mrr"), "either a metric or a dataset"),
        (chart(title=" "), "title"),
        (chart(measures=(Measure(Agg.COUNT, "raw"),)), "no column 'raw'"),
    ],
)
def test_what_a_chart_cannot_be(bad: Chart, says: str) -> None:
    with pytest.raises(InputError, match=says) as refused:
        bad.check()
    assert refused.value.fix


def test_filter_values_are_bound_never_written_into_the_sql() -> None:
    sneaky = "x' OR 1=1 --"
    q = build(chart(filters=(Filter("status", Op.EQ, sneaky),)).check())
    assert sneaky not in q.sql
    assert sneaky in q.params.values()
    assert "'x'' OR 1=1 --'" in q.where  # the drill-down shows it, quoted


CHARGES = [
    charge("c1", T0 + 60, 1000, customer="cus_a"),
    charge("c2", T0 + 120, 3000, "jpy", customer="cus_b"),
    charge("c3", T0 + DAY, 500, status="failed", customer="cus_a", failure_code="card_declined"),
    charge("c4", T0 + DAY, 2000, customer="cus_c", refunded=2000),
    charge("c5", T0 - DAY, 7000, customer="cus_a"),  # the period before
]


@pytest.fixture(scope="module")
def memory() -> Iterator[MemoryDatasets]:
    m = load({"charges": CHARGES})
    yield m
    m.close()


def run(memory: MemoryDatasets, *charts: Chart) -> list[dict[str, Any]]:
    board = Dashboard(name="t", title="T", charts=charts).check()
    out: list[dict[str, Any]] = evaluate(memory, board, PERIOD)["charts"]
    return out


def test_a_number_counts_and_compares(memory: MemoryDatasets) -> None:
    (number,) = run(memory, chart(type=ChartType.NUMBER))
    assert number["values"] == {"jpy": 1, "usd": 3}  # counts split by currency too
    assert number["previous"] == {"usd": 1}
    assert number["change"] == {"jpy": None, "usd": 2.0}
    (money,) = run(memory, chart(type=ChartType.NUMBER, measures=(AMOUNT,)))
    assert money["unit"] == "money"
    assert money["values"] == {"jpy": 3000, "usd": 3500}  # amounts split by currency


def test_grouped_by_a_column_with_a_filter(memory: MemoryDatasets) -> None:
    (table,) = run(
        memory,
        chart(
            measures=(COUNT, AMOUNT),
            group=Grouping(column="customer"),
            filters=(Filter("status", Op.EQ, "succeeded"), Filter("amount", Op.LT, 2500)),
        ),
    )
    assert [(r["group"], r["currency"], r["count"], r["sum(amount)"]) for r in table["rows"]] == [
        ("cus_a", "usd", 1, 1000),
        ("cus_c", "usd", 1, 2000),
    ]
    assert table["definition"] == (
        "Charges created in the period whose status is succeeded and amount is below 2500, "
        "by customer, per currency: how many and the total amount."
    )


def test_over_time_every_bucket_per_currency(memory: MemoryDatasets) -> None:
    (line,) = run(
        memory, chart(type=ChartType.LINE, measures=(AMOUNT,), group=Grouping(grain=Grain.DAY))
    )
    assert [(s["currency"], [v for _, v in s["points"]]) for s in line["series"]] == [
        ("jpy", [3000, 0, 0]),
        ("usd", [1000, 2500, 0]),
    ]


def test_whole_ignores_the_period_and_has_no_previous(memory: MemoryDatasets) -> None:
    (pie,) = run(memory, chart(type=ChartType.PIE, group=Grouping(column="status"), whole=True))
    assert [(r["group"], r["currency"], r["count"]) for r in pie["rows"]] == [
        ("succeeded", "usd", 3),
        ("failed", "usd", 1),
        ("succeeded", "jpy", 1),
    ]
    (number,) = run(memory, chart(type=ChartType.NUMBER, whole=True))
    assert number["values"] == {"jpy": 1, "usd": 4}
    assert number["previous"] is None


def test_each_row_drills_down_to_itself(memory: MemoryDatasets) -> None:
    (table,) = run(memory, chart(group=Grouping(column="failure_code")))
    for row in table["rows"]:
        sql = f"SELECT count(*) FROM charges WHERE {row['drill']['where']}"
        assert memory.query(sql).rows[0][0] == row["count"]
    assert {r["group"] for r in table["rows"]} == {None, "card_declined"}


def test_rows_of_equal_measure_come_in_one_order() -> None:
    # one charge per status and currency: every row counts 1, so only the keys can order them
    statuses, currencies = ("succeeded", "failed", "pending"), ("usd", "eur", "jpy", "gbp")
    charges = [
        charge(f"ch_{s}_{c}", T0 + i, 1000, c, s)
        for i, (s, c) in enumerate((s, c) for s in statuses for c in currencies)
    ]
    with load({"charges": charges}) as memory:
        (table,) = run(memory, chart(measures=(AMOUNT,), group=Grouping(column="status")))
    keys = [(r["group"], r["currency"]) for r in table["rows"]]
    assert keys == sorted(keys)
    assert len(keys) == 12
