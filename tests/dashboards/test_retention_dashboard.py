"""The built-in Retention dashboard: its numbers on the account built by hand, its cohort
table against MRR on the generated account, and `flitch dashboard CONN retention --json`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from flitch import catalog
from flitch.dashboards import BUILTIN, Period, evaluate
from flitch.emulator.store import Account
from flitch.metrics import compute_report, get_report
from flitch.metrics.compute import run
from flitch.metrics.derived import MRR_SPANS
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


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _month_ends(rows: list[dict[str, Any]], end: int) -> dict[tuple[str, str], int]:
    """Each cell's MRR, summed per currency over the cohorts, by the instant it is taken at."""
    last = datetime.fromtimestamp(end, UTC)
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        cohort = _when(r["cohort"])
        months = cohort.year * 12 + cohort.month - 1 + r["months_since"] + 1
        at = datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)
        key = (r["currency"], min(at, last).strftime("%Y-%m-%d %H:%M"))
        out[key] = out.get(key, 0) + r["mrr"]
    return out


def test_cohorts_add_up_to_mrr_each_month_on_the_generated_account(account: Account) -> None:
    m = MemoryDatasets()
    for spec in catalog.OBJECTS:
        m.load(spec, account.test.ordered(spec.object_type).objects)
    try:
        sql = f"SELECT epoch(date_trunc('month', min(span_from))) FROM {MRR_SPANS.table}"
        start = int(run(m, sql).rows[0][0])
        end = ACCOUNT_NOW
        rows = compute_report(m, get_report("mrr_cohorts"), start, end)
        cells = _month_ends(rows, end)
        movements = compute_report(m, get_report("mrr_movements"), start, end, "month")
    finally:
        m.close()
    snapshots = {
        (r["currency"], _when(r["bucket"]).strftime("%Y-%m-%d %H:%M")): r["amount"]
        for r in movements
        if r["movement"] == "mrr" and r["bucket"] is not None
    }
    assert len(cells) > 12
    # each cohort's MRR is rounded on its own: half a unit per cohort at most
    slack = len({(r["currency"], str(r["cohort"])) for r in rows}) / 2
    for key, total in cells.items():
        assert abs(snapshots.get(key, 0) - total) <= slack, key
    assert {k for k, v in snapshots.items() if v} <= set(cells)


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
