"""Only values Stripe's list filters accept are pushed down; the SQL applies the others.

A value outside a filter's enumeration (``'Active'``, ``'bogus'``, an invoice ``'deleted'``) is
a 400 from Stripe: sent, it turned a question with an empty answer into a failed query. The
allowed values are the catalog's (``flitch.catalog.enums``), checked against the SDK by
``tests/test_catalog_sdk.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards import Agg, Chart, ChartType, Measure, Op
from flitch.dashboards import Filter as DashboardFilter
from flitch.dashboards.query import reads as chart_reads
from flitch.emulator.server import Emulator
from flitch.query.engine import QueryEngine
from flitch.query.pushdown import pushdown
from flitch.query.reads import DatasetRead
from tests.conftest import TEST_KEY


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("sql", "dataset"),
    [
        ("SELECT * FROM subscriptions WHERE status = 'Active'", "subscriptions"),  # case matters
        ("SELECT * FROM subscriptions WHERE status = 'bogus'", "subscriptions"),
        # values Stripe's filter takes that no subscription has: a read of every subscription
        ("SELECT * FROM subscriptions WHERE status = 'all'", "subscriptions"),
        ("SELECT * FROM subscriptions WHERE status = 'ended'", "subscriptions"),
        ("SELECT * FROM invoices WHERE status = 'deleted'", "invoices"),
        # a payout's status, but not one the list filter is documented to take
        ("SELECT * FROM payouts WHERE status = 'in_transit'", "payouts"),
        ("SELECT * FROM balance_transactions WHERE type = 'Charge'", "balance_transactions"),
        ("SELECT * FROM prices WHERE active = 1", "prices"),
    ],
)
def test_values_stripe_refuses_are_left_to_the_sql(sql: str, dataset: str) -> None:
    """Sent, these would be a 400 (or a needless read of everything): the SQL alone applies
    them, and answers no rows."""
    read = pushdown(sql).get(dataset)
    assert read is None or read.is_whole


def test_values_stripe_takes_are_pushed_beside_those_it_does_not() -> None:
    assert pushdown("SELECT * FROM payouts WHERE status = 'paid'")["payouts"].params == {
        "status": "paid"
    }
    assert pushdown("SELECT * FROM invoices WHERE status = 'void'")["invoices"].params == {
        "status": "void"
    }
    read = pushdown("SELECT * FROM balance_transactions WHERE type = 'stripe_fee'")
    assert read["balance_transactions"].params == {"type": "stripe_fee"}
    read = pushdown(
        "SELECT * FROM subscriptions WHERE status = 'bogus' AND customer = 'cus_1' "
        "AND created >= '2026-01-01'"
    )
    assert read["subscriptions"] == DatasetRead(
        "subscriptions", created_gte=ts("2026-01-01"), filters=(("customer", "cus_1"),)
    )


def test_a_read_never_carries_a_value_stripe_refuses() -> None:
    """The rule lives in the read itself, so SQL pushdown, dashboard filters and merged reads
    all follow it."""
    assert DatasetRead("subscriptions", filters=(("status", "Active"),)).is_whole
    assert DatasetRead("prices", filters=(("active", "1"),)).is_whole
    assert DatasetRead("subscriptions", filters=(("status", "bogus"), ("customer", "c"))) == (
        DatasetRead("subscriptions", filters=(("customer", "c"),))
    )
    assert DatasetRead("payouts", filters=(("status", "paid"),)).params == {"status": "paid"}
    chart = Chart(
        title="t",
        type=ChartType.TABLE,
        dataset="subscriptions",
        measures=(Measure(Agg.COUNT),),
        filters=(DashboardFilter("status", Op.EQ, "bogus"),),
        whole=True,
    )
    assert [r.is_whole for r in chart_reads(chart, 0, 1)] == [True]


# -- live, over the emulator ----------------------------------------------------------------------
@pytest.fixture
def service(tmp_path: Path, emulator: Emulator) -> Iterator[ConnectionService]:
    settings = Settings(
        home=tmp_path / "home",
        stripe_api_base=emulator.url,
        max_retries=1,
        test_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    with ConnectionService(settings) as svc:
        svc.create("shop", TEST_KEY)
        yield svc


def live_count(service: ConnectionService, sql: str) -> int:
    async def go() -> int:
        engine = QueryEngine(service.settings, service)
        try:
            answer = await engine.sql("shop", sql)
        finally:
            await engine.aclose()
        return int(answer.result.rows[0][0])

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("sql", "path"),
    [
        ("SELECT count(*) FROM subscriptions WHERE status = 'bogus'", "/v1/subscriptions"),
        ("SELECT count(*) FROM subscriptions WHERE status = 'Active'", "/v1/subscriptions"),
        ("SELECT count(*) FROM invoices WHERE status = 'deleted'", "/v1/invoices"),
    ],
)
def test_a_value_stripe_refuses_answers_no_rows_live(
    emulator: Emulator, service: ConnectionService, sql: str, path: str
) -> None:
    """The emulator refuses these values with Stripe's 400, as Stripe does: the query reads the
    list without the filter and the SQL finds nothing."""
    emulator.log.clear()
    assert live_count(service, sql) == 0
    sent = [parse_qs(e.query) for e in emulator.log.entries if e.path == path]
    assert sent
    assert all(q.get("status", ["all"]) == ["all"] for q in sent)
    assert all(e.status == 200 for e in emulator.log.entries)
