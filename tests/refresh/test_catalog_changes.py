"""A cache written for an older catalog keeps being served, and its next refresh rewrites it.

Balance transactions once had ``livemode`` and ``metadata`` columns, always NULL: Stripe's
balance transaction has neither field. A cache written then still answers (the columns stay
until the dataset is read again), and the next refresh reads the dataset in full into the
current layout instead of failing to update it in place.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb

from flitch import catalog
from flitch.catalog import Column, ColumnType
from flitch.connections.records import RunOutcome
from flitch.refresh import Strategy, refresh
from flitch.refresh.runner import store_for
from flitch.store.schema import quote_ident, schema_version
from tests.conftest import TEST_KEY
from tests.refresh.conftest import World
from tests.refresh.helpers import stripe_truth

BALANCE = catalog.get("balance_transactions")
DROPPED = ("livemode", "metadata")


def old_layout() -> catalog.ObjectSpec:
    """Balance transactions as the catalog had them: livemode third, metadata before raw."""
    kept = [c for c in BALANCE.columns if c.name not in DROPPED]
    livemode = Column("livemode", ColumnType.BOOLEAN, "livemode", "")
    metadata = Column("metadata", ColumnType.JSON, "metadata", "")
    return replace(BALANCE, columns=(*kept[:2], livemode, *kept[2:-1], metadata, kept[-1]))


def make_old(world: World) -> None:
    """Rewrite the cache's balance transactions in the old layout, fingerprint included."""
    store = store_for(world.service, world.service.get("Shop").id)
    old = old_layout()
    select = ", ".join(
        f"CAST(NULL AS {'BOOLEAN' if c.name == 'livemode' else 'JSON'}) AS {c.name}"
        if c.name in DROPPED
        else quote_ident(c.name)
        for c in old.columns
    )
    con = duckdb.connect(str(store.current_path))
    try:
        con.execute(f"CREATE TABLE _old AS SELECT {select} FROM balance_transactions")
        con.execute("DROP TABLE balance_transactions")
        con.execute("ALTER TABLE _old RENAME TO balance_transactions")
        con.execute(
            "UPDATE _flitch_datasets SET schema_version = ? WHERE name = 'balance_transactions'",
            [schema_version(old)],
        )
    finally:
        con.close()


def columns(world: World) -> list[str]:
    store = store_for(world.service, world.service.get("Shop").id)
    with store.reader() as reader:
        info = {d.name: d for d in reader.datasets()}["balance_transactions"]
    return [c.name for c in info.columns]


def test_a_cache_with_the_old_balance_columns_is_served_then_rewritten(world: World) -> None:
    world.service.create("Shop", TEST_KEY, objects=["balance_transactions", "payouts"])
    assert refresh(world.service, "Shop", clock=world.clock).ok
    make_old(world)
    store = store_for(world.service, world.service.get("Shop").id)
    truth = stripe_truth(world.emulator, TEST_KEY, BALANCE)

    with store.reader() as reader:
        info = {d.name: d for d in reader.datasets()}
        assert not info["balance_transactions"].schema_current
        assert info["payouts"].schema_current
        # still served: SQL (the old columns included) and the table view
        answer = reader.query("SELECT count(*), count(livemode) FROM balance_transactions")
        assert answer.rows == [(len(truth), 0)]
        page = reader.table(BALANCE)
        assert page.total == len(truth)
        assert [c.name for c in page.result.columns] == list(BALANCE.column_names)

    world.advance(600)
    result = refresh(world.service, "Shop", clock=world.clock)

    assert result.outcome is RunOutcome.OK, result.to_dict()
    by_name = {d.name: d for d in result.datasets}
    assert by_name["balance_transactions"].strategy is Strategy.FULL
    assert by_name["balance_transactions"].reason == "the dataset's columns changed"
    assert by_name["payouts"].reason != "the dataset's columns changed"
    assert columns(world) == list(BALANCE.column_names)
    assert not set(DROPPED) & set(columns(world))
    with store.reader() as reader:
        assert {d.name: d for d in reader.datasets()}["balance_transactions"].schema_current
        ids = reader.query("SELECT id FROM balance_transactions").rows
    assert sorted(r[0] for r in ids) == sorted(truth)
