"""The leases on live reads in the metadata database (``live_read_leases``), on both engines: who
takes one, renewing, expiry and takeover, release, and that only the token holding a lease can
renew or end it. Time is the Flitch clock, pinned and moved."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flitch import clock as clocks
from flitch.metadb import Database, open_database
from flitch.query.read_leases import ReadLeases

KEY = "a" * 40
OTHER = "b" * 40
T0 = 1_900_000_000.0


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Iterator[Database]:
    database = open_database(tmp_path / "home", database_url)
    yield database
    database.close()


@pytest.fixture
def clock(pin_clock: Callable[[float], clocks.Clock]) -> clocks.Clock:
    return pin_clock(T0)


def expiry(db: Database, key: str) -> float:
    return float(
        db.query("SELECT expires_at FROM live_read_leases WHERE read_key = ?", (key,))[0][0]
    )


def test_one_taker_wins_and_the_others_see_its_token(db: Database, clock: clocks.Clock) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    assert leases.holder(KEY) is None
    assert leases.take(KEY, "first", "host-a:1")
    assert not leases.take(KEY, "second", "host-b:2")
    assert leases.holder(KEY) == "first"
    assert leases.held(KEY, "first")
    assert not leases.held(KEY, "second")
    assert expiry(db, KEY) == T0 + 6
    # another read is another lease
    assert leases.take(OTHER, "second", "host-b:2")
    assert leases.holder(OTHER) == "second"


def test_takers_at_once_on_several_threads_leave_exactly_one_holder(
    db: Database, clock: clocks.Clock
) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    won: list[str] = []
    start = threading.Barrier(8)

    def take(token: str) -> None:
        start.wait()
        if leases.take(KEY, token, "host"):
            won.append(token)

    threads = [threading.Thread(target=take, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert leases.holder(KEY) == won[0]


def test_renewing_pushes_the_expiry_back_for_the_holder_only(
    db: Database, clock: clocks.Clock
) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    assert leases.take(KEY, "mine", "host")
    clock.advance(4)
    assert leases.renew([(KEY, "mine"), (KEY, "not-mine"), (OTHER, "mine")]) == {(KEY, "mine")}
    assert expiry(db, KEY) == T0 + 4 + 6
    clock.advance(5)  # 9 s after the take, 5 after the renewal: still held
    assert leases.holder(KEY) == "mine"
    assert not leases.take(KEY, "late", "host")
    assert leases.renew([]) == set()


def test_an_expired_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_release(
    db: Database, clock: clocks.Clock
) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    assert leases.take(KEY, "dead", "host-a:1")
    clock.advance(6)
    assert leases.holder(KEY) == "dead"  # the last second of its lease
    clock.advance(0.5)
    assert leases.holder(KEY) is None  # expired: nobody holds it
    assert not leases.held(KEY, "dead")
    assert leases.take(KEY, "next", "host-b:2")
    assert leases.holder(KEY) == "next"
    # the old holder wakes up: its token holds nothing
    assert leases.renew([(KEY, "dead")]) == set()
    assert not leases.release(KEY, "dead")
    assert leases.holder(KEY) == "next"
    assert leases.release(KEY, "next")
    assert leases.holder(KEY) is None
    assert not db.query("SELECT 1 FROM live_read_leases")


def test_a_released_lease_can_be_taken_at_once(db: Database, clock: clocks.Clock) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    assert leases.take(KEY, "first", "host")
    assert not leases.release(KEY, "second")  # a token that holds nothing ends nothing
    assert leases.held(KEY, "first")
    assert leases.release(KEY, "first")
    assert not leases.release(KEY, "first")
    assert leases.take(KEY, "second", "host")
    assert leases.holder(KEY) == "second"


def test_sweeping_deletes_expired_leases_and_names_the_live_ones(
    db: Database, clock: clocks.Clock
) -> None:
    leases = ReadLeases(db, lease_seconds=6)
    assert leases.take(KEY, "old", "host")
    clock.advance(4)
    assert leases.take(OTHER, "new", "host")
    clock.advance(3)  # KEY's lease expired, OTHER's holds
    assert leases.sweep() == {(OTHER, "new")}
    assert [r[0] for r in db.query("SELECT read_key FROM live_read_leases")] == [OTHER]


def test_a_lease_must_last() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReadLeases(None, lease_seconds=0)  # type: ignore[arg-type]
