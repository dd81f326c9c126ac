"""The built-in Retention dashboard: its numbers on the account built by hand, its cohort
table against MRR on the generated account, and `flitch dashboard CONN retention --json`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flitch import catalog
from flitch.dashboards import BUILTIN, Period, evaluate
from flitch.emulator.store import Account
from flitch.metrics.checks import CohortCheck, cohorts_against_mrr
from flitch.store import MemoryDatasets
from tests.dashboards.test_cli_dashboard import Flitch, flitch  # noqa: F401
from tests.metrics.objects import ts
from tests.metrics.test_retention import account
from tests.timeline import ACCOUNT_NOW

HEADLINES = {
    "nrr_12m",
    "grr_12m",
    "nrr",
    "grr",
    "mrr_churn_rate",
    "subscriber_ltv",
    "arpu",
    "asp",
    "trial_conversion_rate",
    "trialing_subscriptions",
}


@pytest.fixture(scope="module")
def by_hand() -> Iterator[MemoryDatasets]:
    m = account()
    yield m
    m.close()


def test_retention_dashboard_by_hand(by_hand: MemoryDatasets) -> None:
    board = evaluate(by_hand, BUILTIN["retention"], Period(ts("2026-03-01"), ts("2026-05-01")))
    metrics = board["metrics"]
    assert set(metrics) <= HEADLINES
    assert metrics["nrr"] == {"usd": pytest.approx(1.5)}
    assert metrics["grr"] == {"usd": pytest.approx(0.75)}
    assert metrics["mrr_churn_rate"] == {"usd": pytest.approx(0.25)}
    assert metrics["asp"] == {"usd": 1500}
    assert metrics["arpu"] == {"usd": 1750}
    # nobody had MRR a year before: no NRR over twelve months; nobody churned in the 30 days
    # before 1 May: no lifetime value
    assert metrics["nrr_12m"] == {}
    assert metrics["subscriber_ltv"] == {}
    charts = {c["id"]: c for c in board["charts"]}
    cohorts = charts["cohorts"]
    assert cohorts["metric"] == "mrr_cohorts"
    assert [(str(r["cohort"])[:7], r["months_since"], r["mrr"]) for r in cohorts["rows"]] == [
        ("2026-03", 0, 1000),
        ("2026-03", 1, 1000),
    ]
    assert all(r["drill"]["dataset"] == "invoices" for r in cohorts["rows"])
    trend = charts["nrr-12-months-by-month"]
    assert trend["grain"] == "month"
    assert trend["series"] == []


def test_cohorts_add_up_to_mrr_each_month_on_the_generated_account(account: Account) -> None:
    m = MemoryDatasets()
    for spec in catalog.OBJECTS:
        m.load(spec, account.test.ordered(spec.object_type).objects)
    try:
        check = cohorts_against_mrr(m, ACCOUNT_NOW)
    finally:
        m.close()
    assert len(check.cells) > 12
    assert sum(1 for v in check.snapshots.values() if v) > 12
    assert check.mismatches == []


def test_the_check_sees_a_month_that_does_not_add_up() -> None:
    """The check itself: a cell off by more than the rounding, or a snapshot without a cell."""
    key = ("usd", "2026-03-01 00:00")
    assert CohortCheck({key: 1000}, {key: 1000}, 1.0).mismatches == []
    assert CohortCheck({key: 1000}, {key: 1003}, 1.0).mismatches == [(key, 1000, 1003)]
    other = ("eur", "2026-03-01 00:00")
    assert CohortCheck({key: 5}, {key: 5, other: 7}, 1.0).mismatches == [(other, 0, 7)]
    assert CohortCheck({key: 5}, {key: 5, other: 7}, 1.0).worst == 7


def test_cli_retention_json(flitch: Flitch) -> None:  # noqa: F811
    code, data = flitch.json("dashboard", "shop", "retention", "--last", "12m")
    assert code == 0, data
    assert data["dashboard"]["name"] == "retention"
    assert {"nrr_12m", "grr_12m", "mrr_churn_rate", "asp"} <= set(data["metrics"])
    for name, values in data["metrics"].items():
        assert all(isinstance(v, int | float) for v in values.values()), name
    for currency, grr in data["metrics"]["grr_12m"].items():
        assert 0 <= grr <= 1
        assert data["metrics"]["nrr_12m"][currency] >= grr
    cohorts = next(c for c in data["charts"] if c.get("metric") == "mrr_cohorts")
    assert cohorts["rows"]
    months = {r["months_since"] for r in cohorts["rows"]}
    # a year of cohorts: the oldest followed for most of it
    assert {0, 1} <= months
    assert max(months) >= 9
