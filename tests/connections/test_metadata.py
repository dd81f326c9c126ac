"""The metadata database: schema, migrations, dataset state, refresh runs, concurrency."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flitch.connections.connection_table import ConnectionRow, ConnectionTable
from flitch.connections.metadata import DB_FILE, SCHEMA_VERSION, MetadataDB, MetadataError, new_id
from flitch.connections.records import DatasetState, DatasetStatus, KeyTestResult, RunOutcome
from flitch.errors import NotFound
from flitch.metadb import IntegrityError

OK = DatasetStatus.OK


def a_connection(db: MetadataDB, name: str = "Shop", refresh: int | None = None) -> str:
    cid = new_id("conn_")
    now = time.time()
    ConnectionTable(db).insert(
        ConnectionRow(
            id=cid,
            name=name,
            mode="test",
            key_sealed=b"\x01sealed",
            key_fingerprint="f" * 16,
            key_masked="rk_test_…abcd",
            key_last4="abcd",
            can_read_events=True,
            refresh_every=refresh,
            created_at=now,
            updated_at=now,
            last_test=KeyTestResult(tested_at=now, authenticated=True),
        ),
        [
            DatasetState("customers", DatasetStatus.OK),
            DatasetState(
                "subscriptions", DatasetStatus.MISSING_PERMISSION, "no read", "grant Read"
            ),
        ],
    )
    return cid


def test_fresh_database_has_every_migration_and_safe_pragmas(tmp_path: Path) -> None:
    with MetadataDB(tmp_path) as db:
        assert db.schema_version() == SCHEMA_VERSION
    path = tmp_path / DB_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "connections", "datasets", "refresh_runs"} <= tables
    raw.close()
    # Opening again applies nothing twice.
    with MetadataDB(tmp_path) as db:
        assert db.schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    MetadataDB(tmp_path).close()
    raw = sqlite3.connect(tmp_path / DB_FILE)
    raw.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(MetadataError, match="newer Flitch"):
        MetadataDB(tmp_path)


def test_names_are_unique_regardless_of_case(tmp_path: Path, database_url: str | None) -> None:
    with MetadataDB(tmp_path, database_url) as db:
        cid = a_connection(db, "My Shop")
        with pytest.raises(IntegrityError):
            a_connection(db, "my shop")
        assert ConnectionTable(db).get("MY SHOP").id == cid
        assert ConnectionTable(db).get(cid).name == "My Shop"
        with pytest.raises(NotFound) as caught:
            ConnectionTable(db).get("nope")
        assert "My Shop" in caught.value.fix


def test_dataset_state_and_scheduling(tmp_path: Path, database_url: str | None) -> None:
    with MetadataDB(tmp_path, database_url) as db:
        cid = a_connection(db)
        assert db.due_datasets() == {}  # refresh is off
        ConnectionTable(db).set_refresh(cid, 3600, now=1000.0)
        # Never refreshed: due at once; a blocked dataset is never due.
        assert db.due_datasets(now=1000.0) == {cid: ("customers",)}
        db.record_dataset_refresh(cid, "customers", rows=42, finished_at=2000.0)
        info = ConnectionTable(db).info(ConnectionTable(db).get(cid))
        customers = info.datasets[0]
        assert (customers.rows, customers.last_refresh_at, customers.next_due_at) == (
            42,
            2000.0,
            5600.0,
        )
        assert db.due_datasets(now=5599.0) == {}
        assert db.due_datasets(now=5600.0) == {cid: ("customers",)}
        db.set_dataset_status(cid, "customers", "failed", "Stripe kept failing", "Try later")
        failed = ConnectionTable(db).info(ConnectionTable(db).get(cid)).datasets[0]
        assert failed.status is DatasetStatus.FAILED
        assert (failed.reason, failed.fix) == ("Stripe kept failing", "Try later")
        ConnectionTable(db).set_refresh(cid, None)
        assert all(d.next_due_at is None for d in db.datasets(cid))


def test_refresh_runs_are_recorded(tmp_path: Path, database_url: str | None) -> None:
    with MetadataDB(tmp_path, database_url) as db:
        cid = a_connection(db)
        run = db.record_run_start(cid, ["customers"], trigger="manual", started_at=10.0)
        assert db.runs(cid)[0].outcome is RunOutcome.RUNNING
        db.record_run_finish(run, "ok", records=42, requests=3, finished_at=12.0)
        last = ConnectionTable(db).info(ConnectionTable(db).get(cid)).last_run
        assert last is not None
        assert (last.outcome, last.records, last.requests, last.objects) == (
            RunOutcome.OK,
            42,
            3,
            ("customers",),
        )
        with pytest.raises(ValueError):
            db.record_run_finish(run, "running")
        other = db.record_run_start(cid, ["customers"])
        assert db.fail_unfinished_runs() == 1
        assert db.runs(cid)[0].id == other
        assert db.runs(cid)[0].outcome is RunOutcome.FAILED


def test_set_objects_adds_and_removes_datasets(tmp_path: Path, database_url: str | None) -> None:
    with MetadataDB(tmp_path, database_url) as db:
        cid = a_connection(db)
        ConnectionTable(db).set_objects(
            cid,
            [
                DatasetState("charges", DatasetStatus.OK),
                DatasetState("customers", DatasetStatus.OK),
            ],
        )
        assert [d.object for d in db.datasets(cid)] == ["charges", "customers"]


def test_delete_removes_every_row(tmp_path: Path) -> None:
    with MetadataDB(tmp_path) as db:
        cid = a_connection(db)
        db.record_run_start(cid, ["customers"])
        assert ConnectionTable(db).delete(cid)
        assert db.scrub()
        assert ConnectionTable(db).rows() == []
        assert db.datasets(cid) == []
        assert db.runs(cid) == []
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert cid.encode() not in data
    assert b"Shop" not in data


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flitch.connections.metadata import MetadataDB
    home, cid, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    db = MetadataDB(home, sys.argv[4] or None)
    for i in range(n):
        run = db.record_run_start(cid, ["customers"], trigger="manual")
        db.set_dataset_status(cid, "customers", "ok")
        db.record_run_finish(run, "ok", records=i)
    db.close()
    print("done")
    """
)


def test_two_processes_writing_at_once_do_not_fail(
    tmp_path: Path, database_url: str | None
) -> None:
    with MetadataDB(tmp_path, database_url) as db:
        cid = a_connection(db)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), cid, "60", database_url or ""],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    # Meanwhile this process writes too.
    with MetadataDB(tmp_path, database_url) as db:
        for _ in range(30):
            ConnectionTable(db).set_refresh(cid, 900)
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
            assert out.strip() == "done"
        runs = db.runs(cid, limit=1000)
        assert len(runs) == 120
        assert all(r.outcome is RunOutcome.OK for r in runs)


def test_first_opens_racing_migrate_once(tmp_path: Path, database_url: str | None) -> None:
    script = "import sys; from pathlib import Path; from flitch.connections.metadata import "
    script += "MetadataDB; MetadataDB(Path(sys.argv[1]), sys.argv[2] or None).close()"
    argv = [sys.executable, "-c", script, str(tmp_path), database_url or ""]
    procs = [subprocess.Popen(argv) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with MetadataDB(tmp_path, database_url) as db:
        assert db.schema_version() == SCHEMA_VERSION


def test_an_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(MetadataError, match="cannot be used") as caught:
        MetadataDB(tmp_path)
    assert "FLITCH_HOME" in caught.value.fix
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(MetadataError, match="cannot be used"):
        MetadataDB(tmp_path / "a-file" / "home")
