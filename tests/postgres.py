"""A real PostgreSQL server for the tests: Debian's ``postgresql`` package, started by the suite.

``postgres_server`` (session) runs ``initdb`` and ``pg_ctl`` in a fresh temporary folder, on a
free loopback port, with durability off (``fsync``, ``synchronous_commit``): one server per test
session (per xdist worker), stopped and deleted at the end. As root, initdb refuses to run, so
the server runs as the ``postgres`` user the package creates (``runuser``). When no server can
be had (the package is not installed: ``make postgres-deps`` installs it), the tests that need
it are skipped, saying why.

``postgres_url`` gives each test a database of its own (``CREATE DATABASE``), dropped after it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "flitch"


def _binaries() -> Path | None:
    """The folder of initdb and pg_ctl (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server: its admin URL and how to make a database for a test."""

    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _as_owner(owner: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throw-away server; ``pytest.skip`` when this machine has none to start."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make postgres-deps installs Debian's package)")
    owner: str | None = None
    if os.geteuid() == 0:  # initdb will not run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run initdb as")
        owner = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="flitch-pg-"))
    if owner:
        shutil.chown(folder, owner)
    data, sockets = folder / "data", folder
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    subprocess.run(
        _as_owner(owner, [*initdb, "--no-sync", "-E", "UTF8", "--locale=C"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]
    subprocess.run(
        _as_owner(owner, [*pg_ctl, "-o", options, "start"]), check=True, capture_output=True
    )
    try:
        yield PostgresServer(port=port, folder=folder)
    finally:
        subprocess.run(
            _as_owner(owner, [*pg_ctl, "-m", "immediate", "stop"]), check=False, capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session (skips when none can be started)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the session's server, for one test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


#: The engines the metadata tests run on.
ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """FLITCH_DATABASE_URL for each engine: None (SQLite in FLITCH_HOME), then PostgreSQL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url
