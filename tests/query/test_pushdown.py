"""Which conditions of a user's SQL are handed to Stripe as list filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flitch import clock as clocks
from flitch.query.pushdown import pushdown
from flitch.query.reads import DatasetRead, merge


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_created_range_and_filters_of_each_joined_dataset() -> None:
    reads = pushdown(
        "SELECT c.status, count(*) FROM charges c JOIN customers cu ON cu.id = c.customer "
        "WHERE c.created >= TIMESTAMP '2026-10-01' AND c.created < '2026-11-01' "
        "AND c.customer = 'cus_1' AND cu.email = 'a@b.c' GROUP BY 1"
    )
    assert reads["charges"] == DatasetRead(
        "charges",
        created_gte=ts("2026-10-01"),
        created_lt=ts("2026-11-01"),
        filters=(("customer", "cus_1"),),
    )
    assert reads["customers"] == DatasetRead("customers", filters=(("email", "a@b.c"),))


@pytest.mark.parametrize(
    ("condition", "gte", "lt"),
    [
        ("created >= '2026-01-01'", ts("2026-01-01"), None),
        ("created > '2026-01-01'", ts("2026-01-01") + 1, None),
        ("created < '2026-01-01'", None, ts("2026-01-01")),
        ("created <= '2026-01-01'", None, ts("2026-01-01") + 1),
        ("created = '2026-01-01'", ts("2026-01-01"), ts("2026-01-01") + 1),
        ("'2026-01-01' <= created", ts("2026-01-01"), None),
        (
            "created BETWEEN '2026-01-01' AND '2026-02-01'",
            ts("2026-01-01"),
            ts("2026-02-01") + 1,
        ),
        ("created >= DATE '2026-01-01' + INTERVAL 1 MONTH", ts("2026-02-01"), None),
        ("created > '2026-01-01 00:00:00.5'", ts("2026-01-01") + 1, None),
    ],
)
def test_created_comparisons_become_half_open_second_ranges(
    condition: str, gte: int | None, lt: int | None
) -> None:
    read = pushdown(f"SELECT * FROM charges WHERE {condition}")["charges"]
    assert (read.created_gte, read.created_lt) == (gte, lt)


def test_relative_times_are_evaluated_by_duckdb_on_flitchs_clock() -> None:
    sql = "SELECT * FROM charges WHERE created > now() - INTERVAL 30 DAY"
    read = pushdown(sql)["charges"]
    assert read.created_gte is not None
    assert abs(read.created_gte - (clocks.now() - 30 * 86400)) < 120
    # the clock is Flitch's, not the machine's: 29 February 2032, 23:59:59.5
    leap = datetime(2032, 2, 29, 23, 59, 59, 500000, tzinfo=UTC).timestamp()
    assert pushdown(sql, clock=lambda: leap)["charges"].created_gte == int(leap) - 30 * 86400 + 1
    day = "SELECT * FROM charges WHERE created >= today() AND created < today() + 1"
    pinned = pushdown(day, clock=lambda: leap)["charges"]
    midnight = int(datetime(2032, 2, 29, tzinfo=UTC).timestamp())
    assert (pinned.created_gte, pinned.created_lt) == (midnight, midnight + 86400)


def test_catalog_filters_become_list_parameters() -> None:
    assert pushdown("SELECT * FROM subscriptions WHERE status = 'past_due'")[
        "subscriptions"
    ].params == {"status": "past_due"}
    assert pushdown("SELECT * FROM prices WHERE active")["prices"].params == {"active": "true"}
    assert pushdown("SELECT * FROM prices WHERE active = false")["prices"].params == {
        "active": "false"
    }


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM charges WHERE status = 'succeeded' OR customer = 'x'",  # OR: not a filter
        "SELECT * FROM charges WHERE amount > 100",  # Stripe cannot filter amounts
        "SELECT * FROM charges a JOIN charges b ON a.id = b.id WHERE a.customer = 'x'",
        "WITH x AS (SELECT * FROM charges WHERE customer = 'c') SELECT * FROM x",
        "SELECT * FROM charges WHERE customer IN (SELECT id FROM customers)",
        "SELECT * FROM charges WHERE customer = 'a' AND customer = 'b'",
        "SELECT * FROM charges WHERE lower(customer) = 'a'",
        "not sql at all",
        "DELETE FROM charges WHERE customer = 'x'",
    ],
)
def test_anything_unclear_is_left_to_the_sql(sql: str) -> None:
    read = pushdown(sql).get("charges")
    assert read is None or read.is_whole


def test_merged_reads_cover_every_read_of_a_dataset() -> None:
    a = DatasetRead("charges", created_gte=100, created_lt=200, filters=(("customer", "x"),))
    b = DatasetRead("charges", created_gte=150, created_lt=300, filters=(("customer", "x"),))
    c = DatasetRead("charges", created_gte=150, filters=(("customer", "y"),))
    assert merge([a, b]) == [DatasetRead("charges", 100, 300, (("customer", "x"),))]
    assert merge([a, c]) == [DatasetRead("charges", 100, None)]
    assert merge([a, DatasetRead("customers")]) == [a, DatasetRead("customers")]


def test_unknown_dataset_is_refused() -> None:
    with pytest.raises(KeyError, match="customers"):
        DatasetRead("refunds")
