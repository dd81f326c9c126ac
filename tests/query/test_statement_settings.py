"""Statements run on cursors of their own (live loads and cache readers alike): a setting the
store makes for them must reach those cursors, not only the connection that made it."""

from __future__ import annotations

from flitch.store import MemoryDatasets
from flitch.store.reader import open_readonly
from flitch.store.results import ASOF_LOOP_ROWS

SETTING = "SELECT current_setting('asof_loop_join_threshold') AS v"


def test_a_live_load_statement_sees_the_asof_setting() -> None:
    with MemoryDatasets() as memory:
        # the path every chart's statement takes: a cursor made for it
        assert memory._session.arrow(SETTING).to_pylist() == [{"v": ASOF_LOOP_ROWS}]


def test_a_cache_reader_cursor_sees_the_asof_setting() -> None:
    con = open_readonly(None)
    try:
        cur = con.cursor()
        assert cur.execute(SETTING).fetchone() == (ASOF_LOOP_ROWS,)
        cur.close()
    finally:
        con.close()
