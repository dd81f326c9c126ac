"""A key's Stripe budget held in PostgreSQL: several processes together stay within its limits.

Real parts only: a PostgreSQL server the suite starts (``tests/postgres.py``), the emulator
over HTTP with Stripe's limits (100/s live, 25/s test, 25/s per endpoint, as token buckets
holding a second of requests), and separate ``python`` processes each with its own paced
client. What the processes sent is read from the emulator's request log: the most requests that
arrived within any one second, for the key and for each endpoint, and how many were refused.

The bound is what a single process alone lets into a second today, as measured on this
emulator on a busy machine: 110-115 requests of a live key and 27-29 of a test key (the rate, its
0.1 s burst, and requests that left on time but arrived together). Without the shared budget
the same processes send about three times the rate.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flitch.config import Settings
from flitch.emulator.app import EmulatorConfig
from flitch.emulator.auth import DEMO_LIVE_KEY, DEMO_TEST_KEY
from flitch.emulator.server import Emulator
from flitch.emulator.store import Account
from flitch.metadb.database import Database
from flitch.metadb.target import open_database
from flitch.stripe_source.budget_ledger import BudgetLedger, Lease, ledger_for
from flitch.stripe_source.pacing import GLOBAL_SCOPE, MonotonicClock
from flitch.stripe_source.shared_budget import EndpointShare, KeyShare, lanes_of
from tests.stripe_source.cluster_load import ENDPOINTS, busiest_windows, run_processes

LIVE, TEST, ENDPOINT = 100, 25, 25


def _allowed(rate: int) -> int:
    """The most one process alone was seen to let into a second (see above)."""
    return {LIVE: 115, TEST: 29}.get(rate, rate + max(2, int(rate * 0.15)))


def _stripe_limits() -> EmulatorConfig:
    return EmulatorConfig(live_rps=LIVE, test_rps=TEST, endpoint_rps=ENDPOINT)


def test_three_processes_share_a_live_key_within_its_limits(
    postgres_url: str,
    tmp_path: Path,
) -> None:
    with Emulator(Account(), _stripe_limits()) as emulator:
        reports = run_processes(
            3,
            api_base=emulator.url,
            key=DEMO_LIVE_KEY,
            requests=240,
            database_url=postgres_url,
            home=tmp_path,
        )
        seen = busiest_windows(emulator.log.entries)
    assert [r.requests for r in reports] == [240, 240, 240]
    assert seen.answered == 720
    assert seen.rate_limited == 0
    assert seen.key <= _allowed(LIVE), seen
    assert max(seen.endpoints.values()) <= _allowed(ENDPOINT), seen
    # a lease books several turns: far fewer statements than requests
    assert sum(r.leases for r in reports) * 2 < 720


def test_three_processes_share_a_test_key_within_its_limits(
    postgres_url: str,
    tmp_path: Path,
) -> None:
    with Emulator(Account(), _stripe_limits()) as emulator:
        reports = run_processes(
            3,
            api_base=emulator.url,
            key=DEMO_TEST_KEY,
            requests=48,
            database_url=postgres_url,
            endpoints=ENDPOINTS[:3],
            home=tmp_path,
        )
        seen = busiest_windows(emulator.log.entries)
    assert [r.requests for r in reports] == [48, 48, 48]
    assert seen.rate_limited == 0
    assert seen.key <= _allowed(TEST), seen


def test_without_a_shared_budget_the_same_processes_go_over(tmp_path: Path) -> None:
    """The check above can fail: three processes pacing alone (single-machine mode) send
    three times the key's rate, and the emulator refuses some."""
    with Emulator(Account(), _stripe_limits()) as emulator:
        run_processes(
            3,
            api_base=emulator.url,
            key=DEMO_LIVE_KEY,
            requests=150,
            database_url=None,
            home=tmp_path,
        )
        seen = busiest_windows(emulator.log.entries)
    assert seen.key > _allowed(LIVE)
    assert seen.rate_limited > 0


def test_rows_are_named_by_a_keyed_hash_and_hold_no_key(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_url)
    ledger = ledger_for(settings)
    assert ledger is not None
    with open_database(tmp_path, postgres_url) as db:
        other = BudgetLedger(db)  # another process: the same secret, the same names
        name = ledger.key_name(DEMO_LIVE_KEY)
        assert other.key_name(DEMO_LIVE_KEY) == name
        assert ledger.key_name(DEMO_TEST_KEY) != name
        assert ledger.lease(name, "/v1/charges", lanes_of(LIVE, ENDPOINT), 3, 0.04, 0.04) == Lease(
            0.0, 0.04, 1.0
        )
        rows = [str(r[0]) for r in db.query("SELECT bucket FROM stripe_budgets")]
        assert sorted(rows) == sorted(
            [f"{name}:/v1/charges", f"{name}:pace"]
            + [f"{name}:{GLOBAL_SCOPE}/4/{i}" for i in range(4)]
        )
        assert len(bytes(db.query("SELECT secret FROM stripe_budget_secret")[0][0])) == 32
        # keyed: another install (another secret) names the same key otherwise
        with db.maintenance() as tx:
            tx.execute("UPDATE stripe_budget_secret SET secret = ?", (b"x" * 32,))
        assert BudgetLedger(db).key_name(DEMO_LIVE_KEY) != name
    for row in rows:
        assert DEMO_LIVE_KEY[-8:] not in row
        assert DEMO_LIVE_KEY[8:16] not in row


def test_one_lease_books_the_endpoint_and_a_lane_together(
    postgres_url: str, tmp_path: Path
) -> None:
    with open_database(tmp_path, postgres_url) as db:
        ledger = BudgetLedger(db)
        name = ledger.key_name(DEMO_TEST_KEY)
        # test mode: one lane of 25/s, so a second endpoint's turns come after the first's
        first = ledger.lease(name, "/v1/charges", 1, 5, 0.04, 0.04)
        second = ledger.lease(name, "/v1/customers", 1, 5, 0.04, 0.04)
        # the same endpoint again: after the lane's ten turns, not after its own five
        third = ledger.lease(name, "/v1/charges", 1, 5, 0.04, 0.04)
        tat = {str(r[0]).split(":", 1)[1]: float(r[1]) for r in db.query(_ROWS)}
        # rows removed meanwhile (unused for a day) are made again by the next lease
        with db.maintenance() as tx:
            tx.execute("DELETE FROM stripe_budgets")
        assert ledger.lease(name, "/v1/charges", 1, 1, 0.04, 0.04) == Lease(0.0, 0.04, 1.0)
    assert first == Lease(0.0, 0.04, 1.0)  # the bucket was free
    assert second is not None
    assert third is not None
    assert 0.0 < second.start < third.start
    lane = tat[f"{GLOBAL_SCOPE}/1/0"]
    assert tat["/v1/charges"] == lane  # the last lease moved both to the same moment
    assert lane - tat["/v1/customers"] == pytest.approx(0.2)  # 5 turns of 0.04 s after it
    assert ledger.leases == 4
    assert ledger.turns == 16


_ROWS = "SELECT bucket, tat FROM stripe_budgets"


def test_a_process_paces_itself_alone_while_the_database_is_down(
    postgres_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db: Database = open_database(tmp_path, postgres_url)
    ledger = BudgetLedger(db)
    key = KeyShare(ledger, ledger.key_name(DEMO_LIVE_KEY), LIVE, burst=10, clock=MonotonicClock())
    share = EndpointShare(key, "/v1/charges", ENDPOINT, burst=2)
    db.close()  # every lease now fails

    async def one() -> float:
        await share.ready()
        return share.wait_time()

    assert asyncio.run(one()) == 0.0  # sent at once, on this process's own buckets
    share.take()
    key.take()
    assert key.alone()
    assert "could not be leased" in caplog.text
    assert "FLITCH_DATABASE_URL" in caplog.text


def test_an_account_slower_than_its_limits_slows_every_process(
    postgres_url: str, tmp_path: Path
) -> None:
    """Stripe answers 429 when an account's real limit is below the configured one: the key's
    pace drops for every process at once, so three processes together are refused no more
    often than one process alone is today."""
    slow = EmulatorConfig(live_rps=LIVE // 2, test_rps=TEST, endpoint_rps=ENDPOINT)

    def refused(processes: int, database_url: str | None) -> int:
        with Emulator(Account(), slow) as emulator:
            reports = run_processes(
                processes,
                api_base=emulator.url,
                key=DEMO_LIVE_KEY,
                requests=450 // processes,
                database_url=database_url,
                home=tmp_path,
            )
            seen = busiest_windows(emulator.log.entries)
        # every request got its answer in the end (the 429s were retried)
        assert sum(r.requests - r.rate_limited for r in reports) == 450
        return seen.rate_limited

    alone = refused(1, None)
    shared = refused(3, postgres_url)
    assert alone > 0
    assert shared <= alone


def test_a_429_lowers_the_keys_pace_once_a_second_for_every_process(
    postgres_url: str, tmp_path: Path
) -> None:
    with open_database(tmp_path, postgres_url) as db:
        one, other = BudgetLedger(db), BudgetLedger(db)  # two processes
        name = one.key_name(DEMO_LIVE_KEY)
        assert one.lease(name, "/v1/charges", 4, 1, 0.04, 0.04) == Lease(0.0, 0.04, 1.0)
        one.slow_down(name)
        other.slow_down(name)  # the same 429 seen twice within a second: one decrease
        lease = other.lease(name, "/v1/customers", 4, 2, 0.04, 0.04)
    assert lease is not None
    assert lease.pace == pytest.approx(0.7)
    assert lease.step == pytest.approx(0.04 / 0.7)  # the lane's turns further apart
