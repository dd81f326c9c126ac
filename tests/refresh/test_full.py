"""A first refresh reads every picked object in full: the cache equals the account, exactly."""

from __future__ import annotations

import pytest

from flitch.connections.records import DatasetStatus, RunOutcome
from flitch.refresh import Strategy, refresh
from tests.conftest import LIVE_KEY, TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import differences


@pytest.mark.parametrize("key", [TEST_KEY, LIVE_KEY], ids=["test", "live"])
def test_first_refresh_equals_the_account(world: World, key: str) -> None:
    world.service.create("Shop", key, refresh="1h")
    result = refresh(world.service, "Shop", clock=world.clock)

    assert result.outcome is RunOutcome.OK, result.to_dict()
    assert {d.strategy for d in result.datasets} == {Strategy.FULL}
    assert differences(world.emulator, key, world.service, "Shop") == {}
    info = world.service.get("Shop")
    assert all(d.status is DatasetStatus.OK for d in info.datasets)
    assert all(d.last_refresh_at == world.clock.t for d in info.datasets)
    assert all(d.next_due_at == world.clock.t + 3600 for d in info.datasets)
    run = world.service.db.runs(info.id, limit=1)[0]
    assert run.outcome is RunOutcome.OK
    assert run.requests == result.requests > 12
    assert run.records == result.records == sum(d.rows or 0 for d in info.datasets)


def test_only_gets_are_sent(world: World) -> None:
    world.service.create("Shop", TEST_KEY)
    refresh(world.service, "Shop", clock=world.clock)
    world.advance(600)
    refresh(world.service, "Shop", clock=world.clock)
    assert world.emulator.log.methods() == {"GET"}
