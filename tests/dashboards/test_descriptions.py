"""What each chart says it shows is written for people: the built-in charts have a sentence of
their own, and a chart made by a user gets one in plain words, never a query read aloud."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from flitch.dashboards import BUILTIN
from flitch.dashboards.explain import describe, measure_label
from flitch.dashboards.model import (
    Agg,
    Chart,
    ChartType,
    Filter,
    Grouping,
    Measure,
    Op,
    chart_from_dict,
)

#: What a query echo gives away: column names, operators, SQL words and quoted values.
QUERY_WORDS = re.compile(r"\w_\w|\b(eq|ne|gte?|lte?|where)\b|'[^' ]*'")

DATASET_CHARTS = [
    (board.name, chart) for board in BUILTIN.values() for chart in board.charts if chart.dataset
]


@pytest.mark.parametrize(
    ("board", "chart"), DATASET_CHARTS, ids=[f"{b}:{c.id}" for b, c in DATASET_CHARTS]
)
def test_builtin_charts_are_described_in_words(board: str, chart: Chart) -> None:
    text = describe(chart)
    assert not QUERY_WORDS.search(text), text
    assert text[0].isupper()
    assert text.endswith(".")
    # a copy of the chart (as `dashboards copy` makes it, through its JSON) says the same
    assert describe(chart_from_dict(chart.to_dict())) == text


def test_why_payments_failed_reads_as_the_issue_asks() -> None:
    chart = next(c for c in BUILTIN["payments"].charts if c.id == "why-payments-failed")
    assert describe(chart).startswith("Failed charges in the period, by failure code, per currency")


def test_a_users_chart_is_described_in_plain_words() -> None:
    chart = Chart(
        title="Failures",
        type=ChartType.TABLE,
        dataset="charges",
        measures=(Measure(Agg.COUNT), Measure(Agg.SUM, "amount")),
        group=Grouping(column="failure_code"),
        filters=(
            Filter("status", Op.EQ, "failed"),
            Filter("amount_refunded", Op.GTE, 100),
            Filter("payment_intent", Op.NOT_NULL),
        ),
    ).check()
    text = describe(chart)
    assert not QUERY_WORDS.search(text), text
    for words in ("Charges", "created in the period", "status is failed", "failure code"):
        assert words in text, text
    assert "amount refunded is at least 100" in text
    assert "per currency" in text


def test_a_changed_copy_is_described_by_what_it_now_counts() -> None:
    chart = next(c for c in BUILTIN["payments"].charts if c.id == "why-payments-failed")
    written = describe(chart)
    pending = replace(chart, filters=(Filter("status", Op.EQ, "pending"),))
    assert describe(pending) != written
    assert "status is pending" in describe(pending)


def test_whole_datasets_and_other_time_columns_say_so() -> None:
    chart = Chart(
        title="Open invoices",
        type=ChartType.NUMBER,
        dataset="invoices",
        measures=(Measure(Agg.AVG, "amount_remaining"),),
        filters=(Filter("status", Op.IN, ("open", "draft")),),
        whole=True,
    ).check()
    text = describe(chart)
    assert not QUERY_WORDS.search(text), text
    assert "whatever the period" in text
    assert "status is open or draft" in text
    payouts = Chart(
        title="Arrivals",
        type=ChartType.BAR,
        dataset="payouts",
        measures=(Measure(Agg.MAX, "amount"),),
        group=Grouping(column="status"),
        time_column="arrival_date",
    ).check()
    assert "arrival date in the period" in describe(payouts)


def test_measures_are_labelled_in_words() -> None:
    assert measure_label(Agg.SUM, "amount_paid") == "Total amount paid"
    assert measure_label(Agg.COUNT, None) == "Count"
    assert "_" not in measure_label(Agg.MAX, "amount_refunded")
