"""Subscriber counts from each customer's runs of paid time (``derived_subscriber_runs``)
against the same counts made from every subscription as known at each window's end: the family
statement takes the runs only where both agree, and the per-subscription way where a backdated
subscription would make them differ."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flitch import catalog
from flitch.emulator.generator import generate_account
from flitch.metrics.compute import run
from flitch.metrics.subscribers import _EXACT, SUBSCRIBER_FAMILY
from flitch.store import MemoryDatasets
from tests.metrics.objects import load, price, subscription, ts
from tests.timeline import ACCOUNT_NOW

#: The family statement made to count from every subscription, whatever the data.
BY_SUBSCRIPTION = SUBSCRIBER_FAMILY.sql.replace(_EXACT, "\nSELECT false AS runs")


def _rows(source: MemoryDatasets, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = run(source, sql, params).rows
    return sorted(
        (tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows), key=str
    )


@pytest.fixture(scope="module")
def generated() -> Iterator[MemoryDatasets]:
    account = generate_account(seed=11, customers=250, now=ACCOUNT_NOW)
    memory = MemoryDatasets()
    for spec in catalog.OBJECTS:
        memory.load(spec, account.test.ordered(spec.object_type).objects)
    yield memory
    memory.close()


def test_the_forced_statement_differs() -> None:
    assert SUBSCRIBER_FAMILY.sql != BY_SUBSCRIPTION


@pytest.mark.parametrize(
    ("days_back", "days", "grain"),
    [(0, 30, None), (0, 30, "day"), (0, 90, "week"), (200, 365, "month"), (500, 7, "day")],
)
def test_runs_and_subscriptions_agree_on_a_generated_account(
    generated: MemoryDatasets, days_back: int, days: int, grain: str | None
) -> None:
    end = datetime.fromtimestamp(ACCOUNT_NOW, UTC).replace(hour=0, minute=0, second=0)
    end += timedelta(days=1 - days_back)
    params = {"start": end - timedelta(days=days), "end": end, "grain": grain}
    got = _rows(generated, SUBSCRIBER_FAMILY.sql, params)
    assert got == _rows(generated, BY_SUBSCRIPTION, params)
    # the account has subscribers and churn over these periods: the comparison says something
    assert any(r[0] == "period" and r[5] for r in got)


def _previous(memory: MemoryDatasets, params: dict[str, Any]) -> dict[str, Any]:
    """The MRR family's values at the period's start (``previous`` part), by column."""
    rows = run(memory, SUBSCRIBER_FAMILY.sql, params).rows
    mine = [r for r in rows if r[0] == "previous" and r[3] is not None]
    assert len(mine) == 1
    return dict(zip(("mrr", "arr", "active_subscribers"), mine[0][3:6], strict=True))


def _exact(memory: MemoryDatasets, params: dict[str, Any]) -> bool:
    """Whether the family takes its counts from the runs for this period."""
    window = {"start": params["start"], "end": params["end"]}
    return bool(run(memory, f"WITH x AS ({_EXACT}) SELECT runs FROM x", window).rows[0][0])


def test_a_backdated_subscription_counts_only_once_known() -> None:
    """A subscription created after the period's start but backdated to before it was not
    known at the start: MRR at the start leaves it out, as it did before the runs existed."""
    monthly = price("price_m", 1000)
    old = subscription("sub_old", "cus_old", ts("2026-01-01"), items=[(monthly, 1)])
    late = subscription("sub_late", "cus_late", ts("2026-03-20"), items=[(monthly, 2)])
    late["start_date"] = ts("2026-02-01")  # backdated by the API's backdate_start_date
    params = {
        "start": datetime(2026, 3, 10, tzinfo=UTC),
        "end": datetime(2026, 4, 9, tzinfo=UTC),
        "grain": None,
    }
    backdated = load({"prices": [monthly], "subscriptions": [old, late]})
    try:
        assert _exact(backdated, params) is False
        assert _previous(backdated, params) == {
            "mrr": 1000,
            "arr": 12000,
            "active_subscribers": 1,
        }
        assert _rows(backdated, SUBSCRIBER_FAMILY.sql, params) == _rows(
            backdated, BY_SUBSCRIPTION, params
        )
    finally:
        backdated.close()
    # the same subscription not backdated: the runs answer, with the same MRR at the start
    late["start_date"] = late["created"]
    plain = load({"prices": [monthly], "subscriptions": [old, late]})
    try:
        assert _exact(plain, params) is True
        assert _previous(plain, params)["active_subscribers"] == 1
    finally:
        plain.close()
