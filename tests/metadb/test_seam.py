"""The metadata seam itself: where the database is, what differs between the engines, one
schema built the same on both, and a newer schema refused on both."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from flitch.metadb import IntegrityError, MetadataError, open_database
from flitch.metadb.dialect import POSTGRES, SQLITE, statement
from flitch.metadb.schema import TABLES, TRACKS
from flitch.metadb.target import Target, redact
from flitch.metadb.upgrade import latest, table_names, upgrade, versions


def test_placeholders_become_psycopgs_outside_quotes_only() -> None:
    sql = "SELECT 'a?b', x FROM t WHERE y = ? AND z LIKE 'p%' AND w = ?"
    assert statement(sql, SQLITE) == sql
    assert statement(sql, POSTGRES) == (
        "SELECT 'a?b', x FROM t WHERE y = %s AND z LIKE 'p%%' AND w = %s"
    )


def test_the_url_picks_the_engine_and_hides_its_password(tmp_path: Path) -> None:
    assert Target.of(tmp_path).engine == SQLITE
    assert Target.of(tmp_path).path == tmp_path / "flitch.db"
    target = Target.of(tmp_path, "postgresql://flitch:s3cret@db.example:5432/flitch")
    assert target.engine == POSTGRES
    assert "s3cret" not in target.where
    assert target.where == "postgresql://flitch:***@db.example:5432/flitch"
    assert redact("postgresql://db.example/flitch") == "postgresql://db.example/flitch"
    with pytest.raises(MetadataError, match="not a PostgreSQL URL") as caught:
        Target.of(tmp_path, "mysql://root:hunter2@localhost/flitch")
    assert "hunter2" not in str(caught.value)
    assert "FLITCH_DATABASE_URL" in caught.value.message


def test_an_unreachable_server_names_the_setting_not_the_password(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="cannot be used") as caught:
        open_database(tmp_path, "postgresql://flitch:s3cret@127.0.0.1:1/flitch")
    assert "s3cret" not in str(caught.value)
    assert "FLITCH_DATABASE_URL" in caught.value.fix


def test_one_schema_builds_every_table_on_each_engine(
    tmp_path: Path, database_url: str | None
) -> None:
    with open_database(tmp_path, database_url) as db:
        assert versions(db) == latest()
        with db.read() as tx:
            names = table_names(tx)
        assert set(TABLES) | {t.version_table for t in TRACKS} <= names
        assert upgrade(db) == latest()  # again: nothing to do


def test_a_schema_from_a_newer_flitch_is_refused_on_each_engine(
    tmp_path: Path, database_url: str | None
) -> None:
    with open_database(tmp_path, database_url) as db, db.write() as tx:
        tx.execute("INSERT INTO web_schema_migrations (version) VALUES (?)", (99,))
    with pytest.raises(MetadataError, match="newer Flitch") as caught:
        open_database(tmp_path, database_url)
    assert "web" in caught.value.message


def test_names_differ_by_more_than_case_on_each_engine(
    tmp_path: Path, database_url: str | None
) -> None:
    with open_database(tmp_path, database_url) as db:
        with db.write() as tx:
            tx.execute(
                "INSERT INTO web_users (name, role, password_hash, created_at)"
                " VALUES ('Ada', 'admin', 'x', 0)"
            )
        with pytest.raises(IntegrityError), db.write() as tx:
            tx.execute(
                "INSERT INTO web_users (name, role, password_hash, created_at)"
                " VALUES ('ADA', 'viewer', 'x', 0)"
            )
        # the failed write left nothing behind and the connection usable
        assert [r["name"] for r in db.query("SELECT name FROM web_users")] == ["Ada"]


def test_writers_queue_on_each_engine(tmp_path: Path, database_url: str | None) -> None:
    """Read-then-write in a write transaction is exact under contention: 8 threads add 25 to a
    counter one at a time; a lost update would leave less than 200."""
    with open_database(tmp_path, database_url) as db:
        with db.write() as tx:
            tx.execute("INSERT INTO web_setup_code (id, code, created_at) VALUES (1, '0', 0)")

        def bump() -> None:
            for _ in range(25):
                with db.write() as tx:
                    n = int(tx.execute("SELECT code FROM web_setup_code").scalar())
                    tx.execute("UPDATE web_setup_code SET code = ?", (str(n + 1),))

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.query("SELECT code FROM web_setup_code")[0][0] == "200"


def test_a_sqlite_install_keeps_its_file_and_tables(tmp_path: Path) -> None:
    """Single-machine mode: the same file, the same version tables, the same columns."""
    open_database(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "flitch.db")
    try:
        columns = {r[1]: r[2] for r in raw.execute("PRAGMA table_info(datasets)")}
        runs = {r[1] for r in raw.execute("PRAGMA table_info(refresh_runs)")}
        stamp = raw.execute("PRAGMA table_info(web_schema_migrations)").fetchall()
    finally:
        raw.close()
    assert columns["status_at"] == "REAL"
    assert columns["rows"] == "INTEGER"
    assert "rowid" not in runs  # SQLite's own rowid, not a column
    assert [r[2] for r in stamp] == ["INTEGER", "TEXT"]
