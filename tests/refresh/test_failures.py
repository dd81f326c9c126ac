"""A refresh that fails leaves the previous data intact and queryable, says why, and the next
run recovers: removed permissions, a revoked key, faults, a refresh killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flitch import catalog
from flitch.connections.records import DatasetStatus, RunOutcome
from flitch.refresh import Phase, RefreshProgress, Strategy, refresh
from flitch.refresh.runner import store_for
from flitch.store.base import RefreshRunning
from flitch.stripe_source.pacing import Backoff
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import StoreSink, cached, differences

FAST = Backoff(base=0.005, cap=0.02, floor=0.0)
ALL_BUT = frozenset(catalog.NAMES) | {"events"}


def _first(world: World, objects: str | None = None) -> None:
    world.service.create("Shop", TEST_KEY, objects=objects, refresh="1h")
    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert result.outcome is RunOutcome.OK, result.to_dict()


def _snapshot(world: World) -> dict[str, dict[str, object]]:
    return {
        name: cached(world.service, "Shop", catalog.get(name))
        for name in world.service.get("Shop").objects
    }


def test_a_permission_removed_keeps_the_data_and_says_what_to_do(world: World) -> None:
    _first(world)
    before = cached(world.service, "Shop", catalog.get("subscriptions"))
    assert before
    world.emulator.config.keys[TEST_KEY] = ALL_BUT - {"subscriptions"}
    world.advance(3600)

    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)

    assert result.outcome is RunOutcome.PARTIAL
    subs = next(d for d in result.datasets if d.name == "subscriptions")
    assert subs.phase is Phase.BLOCKED
    assert cached(world.service, "Shop", catalog.get("subscriptions")) == before
    info = world.service.get("Shop")
    status = next(d for d in info.datasets if d.object == "subscriptions")
    assert status.status is DatasetStatus.MISSING_PERMISSION
    assert status.fix is not None
    assert "Read Subscriptions" in status.fix
    assert status.rows == len(before)
    others = [d for d in info.datasets if d.object != "subscriptions"]
    assert all(d.status is DatasetStatus.OK for d in others)
    run = world.service.db.runs(info.id, limit=1)[0]
    assert run.outcome is RunOutcome.PARTIAL
    assert "subscriptions" in (run.error or "")
    # blocked datasets are left out of the next runs; their data stays
    world.advance(3600)
    again = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert "subscriptions" not in {d.name for d in again.datasets}
    assert cached(world.service, "Shop", catalog.get("subscriptions")) == before


def test_read_events_removed_falls_back_to_full_reads(world: World) -> None:
    _first(world, objects="customers,charges")
    world.emulator.config.keys[TEST_KEY] = ALL_BUT - {"events"}
    world.advance(3600)
    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert result.outcome is RunOutcome.OK, result.to_dict()
    assert {d.strategy for d in result.datasets} == {Strategy.FULL}
    assert all("Read Events" in d.reason for d in result.datasets)
    assert world.service.get("Shop").can_read_events is False
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_a_revoked_key_is_recorded_and_the_data_kept(world: World) -> None:
    _first(world)
    before = _snapshot(world)
    world.emulator.config.revoked_keys.add(TEST_KEY)
    world.advance(3600)

    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)

    assert result.outcome is RunOutcome.FAILED
    assert result.error is not None
    assert "Create a new restricted key and update the connection" in result.error.fix
    assert _snapshot(world) == before
    info = world.service.get("Shop")
    assert info.status == "auth_failed"
    assert info.last_test is not None
    assert not info.last_test.authenticated
    assert all(d.status is DatasetStatus.FAILED for d in info.datasets)
    run = world.service.db.runs(info.id, limit=1)[0]
    assert run.outcome is RunOutcome.FAILED
    assert "Authentication failed" in (run.error or "")


def test_faults_lose_nothing(world: World) -> None:
    world.emulator.config.fault_rate = 0.1
    world.emulator.config.seed = 3
    _first(world)
    world.emulator.config.fault_rate = 0.0
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
    world.emulator.config.fault_rate = 0.1
    world.advance(3600)
    sink = StoreSink(world.account.test, int(world.clock.t))
    for customer in world.account.test.ordered("customer").objects[:5]:
        sink.update(customer["id"], "customer.updated", description="Changed under faults")
    world.advance(120)
    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert result.outcome is RunOutcome.OK, result.to_dict()
    faulted = [r for r in world.emulator.log.entries if (r.note or "").startswith("fault")]
    assert faulted, "the emulator injected no fault"
    world.emulator.config.fault_rate = 0.0
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_one_refresh_at_a_time(world: World) -> None:
    _first(world, objects="customers")
    info = world.service.get("Shop")
    writer = store_for(world.service, info.id).begin_refresh(full=True)
    with writer, pytest.raises(RefreshRunning, match="already running"):
        refresh(world.service, "Shop", clock=world.clock)


def test_a_refresh_killed_midway_loses_nothing(world: World, tmp_path: Path) -> None:
    _first(world)
    before = _snapshot(world)
    world.emulator.config.latency_ms = 20
    env = {
        **os.environ,
        "FLITCH_HOME": str(world.settings.home),
        "FLITCH_STRIPE_API_BASE": world.emulator.url,
        "FLITCH_TEST_RPS": "8",
        "FLITCH_ENDPOINT_RPS": "8",
    }
    world.emulator.log.clear()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flitch", "refresh", "Shop", "--full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(world.emulator.log) < 6 and time.monotonic() < deadline:
            assert proc.poll() is None, "the refresh ended before it could be killed"
            time.sleep(0.02)
        info = world.service.get("Shop")
        staging = list(store_for(world.service, info.id).cache_dir.glob("staging-*"))
        assert staging, "the refresh had not started writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert _snapshot(world) == before  # the previous version, whole
    world.emulator.config.latency_ms = 0
    world.advance(600)
    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert result.outcome is RunOutcome.OK, result.to_dict()
    runs = world.service.db.runs(world.service.get("Shop").id, limit=3)
    killed = next(r for r in runs if r.trigger == "manual" and r.id != result.run_id)
    assert killed.outcome is RunOutcome.FAILED
    assert "stopped" in (killed.error or "")
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
    assert not list(store_for(world.service, result.connection_id).cache_dir.glob("staging-*"))


def test_a_damaged_cache_file_is_rebuilt_by_the_next_refresh(world: World) -> None:
    _first(world, objects="customers,charges")
    path = store_for(world.service, world.service.get("Shop").id).current_path
    path.write_bytes(b"this is not a DuckDB file" * 100)
    world.advance(600)
    result = refresh(world.service, "Shop", clock=world.clock, backoff=FAST)
    assert result.outcome is RunOutcome.OK, result.to_dict()
    assert {d.strategy for d in result.datasets} == {Strategy.FULL}
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_a_dataset_failing_after_it_was_changed_starts_the_refresh_over(world: World) -> None:
    """A permission removed halfway through an incremental refresh, after the dataset took its
    new objects (in a copy of the cache): the refresh starts over and keeps the old version."""
    pytest.importorskip("flitch.emulator.changes")
    _first(world, objects="customers,subscriptions")
    before = cached(world.service, "Shop", catalog.get("subscriptions"))
    world.advance(3600)
    world.emulator.apply_changes("new_subscription", 1)
    store = world.account.test
    old = next(s for s in store.ordered("subscription").objects if s["id"] in before)
    StoreSink(store, int(world.clock.t)).update(old["id"], "customer.subscription.updated")
    world.advance(120)
    world.emulator.log.clear()
    removed: list[bool] = []

    def remove_the_permission_once_written(progress: RefreshProgress) -> None:
        subs = progress.datasets.get("subscriptions")
        if subs is not None and subs.upserted and not removed:
            world.emulator.config.keys[TEST_KEY] = ALL_BUT - {"subscriptions"}
            removed.append(True)

    result = refresh(
        world.service,
        "Shop",
        clock=world.clock,
        backoff=FAST,
        on_progress=remove_the_permission_once_written,
    )

    assert removed
    assert result.outcome is RunOutcome.PARTIAL, result.to_dict()
    by_name = {d.name: d for d in result.datasets}
    assert by_name["subscriptions"].phase is Phase.BLOCKED
    assert by_name["customers"].phase is Phase.DONE
    assert cached(world.service, "Shop", catalog.get("subscriptions")) == before
    subscription_lists = [r for r in world.emulator.log.entries if r.path == "/v1/subscriptions"]
    assert [r.status for r in subscription_lists] == [200, 403]  # once per attempt
