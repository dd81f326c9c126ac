"""The scheduler: refreshes on each connection's interval, a daily check, only refresh-on
connections, one refresh per connection at a time."""

from __future__ import annotations

import time

from flitch.connections.records import RunOutcome
from flitch.refresh import Strategy
from flitch.refresh.runner import store_for
from flitch.refresh.scheduler import ScheduledRun, Scheduler
from tests.conftest import LIVE_KEY, TEST_KEY
from tests.refresh.conftest import World


def _scheduler(world: World, **options: object) -> tuple[Scheduler, list[ScheduledRun]]:
    # Connections were saved at the test's clock's time (due from then on): a second later.
    world.advance(1)
    seen: list[ScheduledRun] = []
    sched = Scheduler(
        world.settings,
        clock=world.clock,
        on_run=seen.append,
        **options,  # type: ignore[arg-type]
    )
    return sched, seen


def test_only_connections_with_refresh_on_are_refreshed_when_due(world: World) -> None:
    world.service.create("On", TEST_KEY, objects="customers,charges", refresh="1h")
    world.service.create("Off", LIVE_KEY, objects="customers")
    sched, seen = _scheduler(world, verify_every=None)

    first = sched.run_once()
    assert [(r.connection, r.kind, r.outcome) for r in first] == [("On", "refresh", "ok")]
    assert not store_for(world.service, world.service.get("Off").id).exists()
    assert [s.name for s in sched.status()] == ["On"]
    status = sched.status()[0]
    assert status.last_refresh_at == world.clock.t
    assert status.next_due_at == world.clock.t + 3600

    world.advance(1800)
    assert sched.run_once() == []  # not due yet
    world.advance(1801)
    again = sched.run_once()
    assert [r.outcome for r in again] == ["ok"]
    result = again[0].result
    assert result is not None
    assert {d.strategy for d in result.datasets} == {Strategy.EVENTS}  # type: ignore[union-attr]
    assert seen == [*first, *again]
    runs = world.service.db.runs(world.service.get("On").id)
    assert [r.trigger for r in runs] == ["schedule", "schedule"]


def test_the_cache_is_checked_against_stripe_on_its_own_schedule(world: World) -> None:
    world.service.create("On", TEST_KEY, objects="customers", refresh="1h")
    sched, _ = _scheduler(world, verify_every=7200)
    assert [r.kind for r in sched.run_once()] == ["refresh"]
    world.advance(3601)
    assert [r.kind for r in sched.run_once()] == ["refresh"]
    world.advance(3601)
    done = sched.run_once()
    assert [(r.kind, r.outcome) for r in done] == [("refresh", "ok"), ("verify", "ok")]
    assert "matches" in done[1].message
    connection_id = world.service.get("On").id
    assert world.service.db.last_run_at(connection_id, "verify") == world.clock.t
    assert sched.status()[0].last_verified_at == world.clock.t


def test_a_connection_whose_key_failed_waits_for_a_new_key(world: World) -> None:
    world.service.create("On", TEST_KEY, objects="customers", refresh="15m")
    sched, _ = _scheduler(world, verify_every=None)
    world.emulator.config.revoked_keys.add(TEST_KEY)
    failed = sched.run_once()
    assert [r.outcome for r in failed] == ["failed"]
    world.advance(3600)
    skipped = sched.run_once()
    assert [r.outcome for r in skipped] == ["skipped"]
    assert "update-key" in skipped[0].message
    world.advance(3600)
    assert sched.run_once() == []  # reported once, not at every poll


def test_a_connection_already_refreshing_is_skipped(world: World) -> None:
    world.service.create("On", TEST_KEY, objects="customers", refresh="1h")
    sched, _ = _scheduler(world, verify_every=None)
    writer = store_for(world.service, world.service.get("On").id).begin_refresh(full=True)
    with writer:
        runs = sched.run_once()
    assert [(r.outcome, r.message) for r in runs] == [
        ("running", "skipped: a refresh of it is already running")
    ]


def test_the_background_thread_runs_due_refreshes(world: World) -> None:
    world.service.create("On", TEST_KEY, objects="customers", refresh="1h")
    sched, seen = _scheduler(world, verify_every=None, poll=0.05)
    sched.start()
    try:
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sched.stop()
    assert not sched.running
    assert seen
    assert seen[0].outcome == RunOutcome.OK.value
