"""``flitch db check`` on a PostgreSQL primary and on a real streaming standby of it (made with
``pg_basebackup`` from the suite's server): each says where it stands and how far behind the
standby is."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flitch.metadb.health import check
from flitch.metadb.target import Target
from tests.postgres import PostgresServer, _as_owner, _binaries, _free_port


@pytest.fixture
def standby(postgres_server: PostgresServer) -> Iterator[int]:
    """A hot standby streaming from the suite's server; its port."""
    bin_dir = _binaries()
    assert bin_dir is not None
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="flitch-standby-"))
    if owner:
        shutil.chown(folder, owner)
    data = folder / "data"
    backup = [str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(postgres_server.port)]
    made = subprocess.run(
        _as_owner(owner, [*backup, "-U", "flitch", "-D", str(data), "-R", "-X", "stream"]),
        check=False,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    port = _free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c hot_standby=on "
        "-c max_connections=200"  # a hot standby needs at least its primary's
    )
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]
    subprocess.run(
        _as_owner(owner, [*pg_ctl, "-o", options, "start"]), check=True, capture_output=True
    )
    try:
        yield port
    finally:
        subprocess.run(
            _as_owner(owner, [*pg_ctl, "-m", "immediate", "stop"]), check=False, capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def _health(tmp_path: Path, url: str) -> dict[str, object]:
    return check(Target.of(tmp_path, url or None)).to_dict()


def test_a_primary_lists_its_standby_and_the_standby_its_lag(
    tmp_path: Path, postgres_server: PostgresServer, standby: int
) -> None:
    for _ in range(100):  # the standby's receiver connects a moment after it starts
        primary = _health(tmp_path, postgres_server.url())
        if primary["standbys"]:
            break
        time.sleep(0.1)
    assert primary["reachable"] is True
    assert primary["role"] == "primary"
    streaming = primary["standbys"]
    assert isinstance(streaming, list)
    assert len(streaming) >= 1
    assert {s["state"] for s in streaming} <= {"startup", "catchup", "streaming"}

    replica = _health(tmp_path, f"postgresql://flitch@127.0.0.1:{standby}/postgres")
    assert replica["reachable"] is True
    assert replica["role"] == "standby"
    assert replica["standbys"] == []
    assert isinstance(replica["caught_up"], bool)
    lag = replica["replay_lag_s"]
    assert lag is None or (isinstance(lag, float) and lag >= 0)


def test_sqlite_has_no_replication(tmp_path: Path) -> None:
    health = _health(tmp_path, "")
    assert health["role"] == ""
    assert health["standbys"] == []
