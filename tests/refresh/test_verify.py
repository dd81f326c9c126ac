"""``--verify``: re-read everything, report each difference between the cache and Stripe, repair."""

from __future__ import annotations

import duckdb
import orjson
import pytest

from flitch import catalog
from flitch.connections.records import RunOutcome
from flitch.refresh import refresh
from flitch.refresh.runner import store_for
from flitch.refresh.verify import verify
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import differences


def _first(world: World) -> str:
    world.service.create("Shop", TEST_KEY, objects="customers,charges,subscriptions")
    assert refresh(world.service, "Shop", clock=world.clock).ok
    return world.service.get("Shop").id


def test_a_matching_cache_has_no_differences(world: World) -> None:
    _first(world)
    world.advance(600)
    result = verify(world.service, "Shop", clock=world.clock)
    assert result.error is None
    assert result.complete
    assert result.differences == 0
    assert not any(c.repaired for c in result.datasets)
    assert {c.name: c.cached_rows == c.stripe_rows for c in result.datasets} == {
        "customers": True,
        "charges": True,
        "subscriptions": True,
    }


def test_differences_planted_in_the_cache_file_are_found_and_repaired(world: World) -> None:
    connection_id = _first(world)
    path = store_for(world.service, connection_id).current_path
    con = duckdb.connect(str(path))
    try:
        ids = [r[0] for r in con.execute("SELECT id FROM customers ORDER BY id LIMIT 3").fetchall()]
        con.execute("DELETE FROM customers WHERE id = ?", [ids[0]])
        raw = con.execute("SELECT CAST(raw AS VARCHAR) FROM customers WHERE id = ?", [ids[1]])
        changed = orjson.loads(raw.fetchone()[0])  # type: ignore[index]
        changed["email"] = "planted@example.com"
        con.execute(
            "UPDATE customers SET raw = ?, email = 'planted@example.com' WHERE id = ?",
            [orjson.dumps(changed).decode(), ids[1]],
        )
        con.execute(
            "INSERT INTO customers (id, raw) VALUES ('cus_planted', ?)",
            ['{"id": "cus_planted", "object": "customer"}'],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    world.advance(600)

    result = verify(world.service, "Shop", clock=world.clock)

    customers = next(c for c in result.datasets if c.name == "customers")
    assert (customers.missing, customers.extra, customers.changed) == (1, 1, 1)
    assert customers.examples["missing"] == [ids[0]]
    assert customers.examples["extra"] == ["cus_planted"]
    assert customers.examples["changed"][0]["id"] == ids[1]
    assert "email" in customers.examples["changed"][0]["fields"]
    assert customers.repaired
    assert result.differences == 3
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
    run = world.service.db.runs(connection_id, limit=1)[0]
    assert run.trigger == "verify"
    assert run.outcome is RunOutcome.OK
    assert "customers (1 missing, 1 extra, 1 changed)" in (run.error or "")

    world.advance(600)
    assert verify(world.service, "Shop", clock=world.clock).differences == 0


def test_a_change_in_stripe_without_an_event_is_found(world: World) -> None:
    _first(world)
    store = world.account.test
    charge = dict(store.ordered("charge").objects[0])
    charge["description"] = "Changed silently"
    store.put(charge)  # no event: an incremental refresh cannot know
    world.advance(600)
    assert refresh(world.service, "Shop", clock=world.clock).ok
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") != {}

    result = verify(world.service, "Shop", clock=world.clock, refresh_first=False)

    charges = next(c for c in result.datasets if c.name == "charges")
    assert charges.changed == 1
    assert charges.examples["changed"][0]["fields"].keys() == {"description"}
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}


def test_verify_keeps_datasets_it_did_not_check(world: World) -> None:
    _first(world)
    before = world.service.get("Shop")
    world.emulator.config.keys[TEST_KEY] = frozenset(catalog.NAMES) - {"subscriptions"} | {"events"}
    world.advance(600)
    result = verify(world.service, "Shop", clock=world.clock)
    assert result.refresh is not None
    assert "subscriptions" not in {c.name for c in result.datasets}
    with store_for(world.service, before.id).reader() as reader:
        assert {d.name for d in reader.datasets()} == {"customers", "charges", "subscriptions"}


def test_changes_made_during_the_check_are_not_counted_as_misses(world: World) -> None:
    pytest.importorskip("flitch.emulator.changes")
    _first(world)
    world.advance(3600)
    world.emulator.apply_changes("new_charge", 3)  # after the last refresh, with events
    world.advance(20)

    result = verify(world.service, "Shop", clock=world.clock, refresh_first=False)

    charges = next(c for c in result.datasets if c.name == "charges")
    assert charges.meanwhile >= 3
    assert result.differences == 0
    assert charges.repaired
    assert differences(world.emulator, TEST_KEY, world.service, "Shop") == {}
