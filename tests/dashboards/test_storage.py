"""User dashboards in the metadata database: create, change, reorder, copy, delete, export and
import — and what is refused, with what to do instead."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from flitch.connections.metadata import MetadataDB
from flitch.dashboards import (
    BUILTIN,
    Agg,
    Chart,
    ChartType,
    Dashboard,
    Grouping,
    Measure,
    chart_from_dict,
)
from flitch.dashboards.storage import DashboardStore
from flitch.errors import InputError, NotFound
from flitch.metrics.series import Grain

REFUNDS = Chart(
    title="Refunds by week",
    type=ChartType.BAR,
    dataset="charges",
    measures=(Measure(Agg.SUM, "amount_refunded"),),
    group=Grouping(grain=Grain.WEEK),
)
MRR = Chart(title="MRR", type=ChartType.NUMBER, metric="mrr")


@pytest.fixture
def store(tmp_path: Path) -> DashboardStore:
    return DashboardStore.for_home(tmp_path)


def test_create_read_and_list_in_order(store: DashboardStore) -> None:
    store.create(Dashboard(name="ops", title="Ops", charts=(MRR, REFUNDS)))
    store.create(Dashboard(name="cash", title="Cash", charts=()))
    got = store.get("ops")
    assert [c.id for c in got.charts] == ["mrr", "refunds-by-week"]
    assert got.charts[1] == replace(REFUNDS, id="refunds-by-week")
    assert [d.name for d in store.all()] == ["ops", "cash"]
    assert store.move("cash", 0) == ["cash", "ops"]
    assert [d.name for d in store.all()] == ["cash", "ops"]


def test_charts_are_added_moved_replaced_removed(store: DashboardStore) -> None:
    store.create(Dashboard(name="ops", title="Ops", charts=(MRR,)))
    store.add_chart("ops", REFUNDS, position=0)
    store.add_chart("ops", MRR)  # a second chart of the same title gets its own id
    assert [c.id for c in store.get("ops").charts] == ["refunds-by-week", "mrr", "mrr-2"]
    store.move_chart("ops", "mrr-2", 0)
    assert [c.id for c in store.get("ops").charts] == ["mrr-2", "refunds-by-week", "mrr"]
    store.reorder("ops", ["mrr", "mrr-2", "refunds-by-week"])
    assert [c.id for c in store.get("ops").charts] == ["mrr", "mrr-2", "refunds-by-week"]
    arr = Chart(title="ARR", type=ChartType.NUMBER, metric="arr")
    store.replace_chart("ops", "mrr-2", arr)
    assert store.get("ops").charts[1].metric == "arr"
    assert store.get("ops").charts[1].id == "mrr-2"
    store.remove_chart("ops", "mrr")
    assert [c.id for c in store.get("ops").charts] == ["mrr-2", "refunds-by-week"]
    with pytest.raises(NotFound) as missing:
        store.remove_chart("ops", "nope")
    assert "mrr-2" in missing.value.fix
    with pytest.raises(InputError, match="exactly once"):
        store.reorder("ops", ["mrr-2"])


def test_copy_a_builtin_then_change_it(store: DashboardStore) -> None:
    mine = store.copy("billing", "my-billing")
    assert mine.title == "Billing (copy)"
    assert mine.builtin is False
    assert [c.to_dict() for c in mine.charts] == [c.to_dict() for c in BUILTIN["billing"].charts]
    store.remove_chart("my-billing", mine.charts[0].id)
    assert len(store.get("my-billing").charts) == len(BUILTIN["billing"].charts) - 1
    assert len(BUILTIN["billing"].charts) == len(mine.charts)  # the built-in is untouched


def test_export_then_import_round_trips(store: DashboardStore, tmp_path: Path) -> None:
    store.create(Dashboard(name="ops", title="Ops", description="Mine", charts=(MRR, REFUNDS)))
    data = store.export("ops")
    assert data["format"] == 1
    other = DashboardStore.for_home(tmp_path / "elsewhere")
    imported = other.import_(data)
    assert imported.to_dict() == data
    again = other.import_(data, name="ops-2")
    assert again.name == "ops-2"
    with pytest.raises(InputError, match="already exists"):
        other.import_(data)
    data["title"] = "Ops, again"
    assert other.import_(data, replace_existing=True).title == "Ops, again"
    assert store.export("payments")["charts"]  # built-in dashboards export too


def test_names_are_checked(store: DashboardStore) -> None:
    with pytest.raises(InputError, match="built-in"):
        store.create(Dashboard(name="payments", title="Mine", charts=()))
    with pytest.raises(InputError, match="cannot name"):
        store.create(Dashboard(name="Bad Name!", title="x", charts=()))
    store.create(Dashboard(name="ops", title="Ops", charts=()))
    with pytest.raises(InputError, match="already exists"):
        store.create(Dashboard(name="ops", title="Ops again", charts=()))
    with pytest.raises(NotFound) as missing:
        store.get("nope")
    assert "payments" in missing.value.fix


def test_a_bad_import_says_what_is_wrong(store: DashboardStore) -> None:
    with pytest.raises(InputError, match="no dataset 'payments'"):
        store.import_(
            {
                "name": "x",
                "title": "x",
                "charts": [{"title": "t", "dataset": "payments", "measures": [{"agg": "count"}]}],
            }
        )
    with pytest.raises(InputError, match="format 9"):
        store.import_({"format": 9, "name": "x", "charts": []})
    with pytest.raises(InputError, match="list of charts"):
        store.import_({"name": "x"})
    assert store.all() == []


def test_the_tables_live_beside_the_others_in_flitch_db(tmp_path: Path) -> None:
    db = MetadataDB(tmp_path)
    store = DashboardStore.for_home(tmp_path)
    store.create(Dashboard(name="ops", title="Ops", charts=(MRR,)))
    DashboardStore.for_home(tmp_path)  # migrating again changes nothing
    conn = sqlite3.connect(tmp_path / "flitch.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"dash_dashboards", "dash_schema_migrations", "connections"} <= tables
    assert conn.execute("SELECT max(version) FROM dash_schema_migrations").fetchone()[0] == 1
    conn.close()
    db.close()


def test_a_chart_from_json_keeps_its_filters() -> None:
    chart = chart_from_dict(
        {
            "title": "Big open invoices",
            "type": "table",
            "dataset": "invoices",
            "measures": [{"agg": "count"}, {"agg": "sum", "column": "amount_remaining"}],
            "group": {"column": "customer"},
            "filters": [
                {"column": "status", "op": "in", "value": ["open", "uncollectible"]},
                {"column": "amount_remaining", "op": "gte", "value": 10000},
            ],
        }
    ).check()
    assert chart.filters[0].value == ("open", "uncollectible")
    assert chart_from_dict(chart.to_dict()) == chart
