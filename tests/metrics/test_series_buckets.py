"""A series' buckets counted in plain arithmetic are DuckDB's ``date_trunc`` buckets in UTC, at the
instants where they could part: midnights and the microsecond before, Sunday night into Monday,
29 February, a year's end, before 1970, and a spread of instants over fifty years."""

from __future__ import annotations

import duckdb
import pytest

from flitch.metrics.model import bucket

EDGES = [
    "2026-11-01 00:00:00",
    "2026-10-31 23:59:59.999999",
    "2026-11-08 23:59:59.999999",  # a Sunday
    "2026-11-09 00:00:00",  # a Monday
    "2028-02-29 23:59:30",
    "2028-03-01 00:00:00",
    "2026-12-31 23:59:59.999999",
    "1970-01-01 00:00:00",  # a Thursday
    "1969-12-31 23:59:59.999999",
    "1969-12-29 00:00:00.000001",
]


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_the_same_buckets_as_date_trunc(grain: str) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE t (created TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?::TIMESTAMPTZ)", [[f"{e}+00"] for e in EDGES])
    # every 7 hours, 13 minutes and a few microseconds for fifty years
    con.execute(
        "INSERT INTO t SELECT TIMESTAMPTZ '1990-01-01 00:00:00+00' + i * INTERVAL 25980000007 "
        "MICROSECONDS FROM range(60000) r(i)"
    )
    differ = con.execute(
        f"SELECT created, {bucket()}, date_trunc($grain, created) FROM t "
        f"WHERE {bucket()} IS DISTINCT FROM date_trunc($grain, created)",
        {"grain": grain},
    ).fetchall()
    assert differ == []
    assert con.execute("SELECT count(*) FROM t").fetchone() == (60000 + len(EDGES),)
