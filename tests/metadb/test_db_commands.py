"""``flitch db upgrade``, ``flitch db check`` and ``flitch migrate-to-postgres``, through the
command line, against a real PostgreSQL server and the emulator: an install made on SQLite is
moved and keeps working — its key still sealed, and still usable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flitch.cli import app
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards.model import Chart, ChartType, Dashboard
from flitch.dashboards.storage import DashboardStore
from flitch.emulator.server import Emulator
from flitch.metadb import open_database
from flitch.web.sessions import SessionStore
from flitch.web.throttle import SignInThrottle
from flitch.web.users import Role, UserStore
from tests.conftest import TEST_KEY
from tests.metadb.test_stores import cheap


def flitch(home: Path, *args: str, url: str | None = None) -> tuple[int, Any, str]:
    env = {"FLITCH_HOME": str(home), "FLITCH_DATABASE_URL": url or ""}
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    out = result.stdout
    data = json.loads(out) if "--json" in args and out.strip().startswith("{") else out
    return result.exit_code, data, result.stderr if result.stderr_bytes is not None else ""


def test_check_then_upgrade_on_each_engine(tmp_path: Path, database_url: str | None) -> None:
    code, health, _ = flitch(tmp_path, "db", "check", "--json", url=database_url)
    assert code == 1
    assert health["reachable"] is True
    assert health["state"] == "empty"
    code, done, _ = flitch(tmp_path, "db", "upgrade", "--json", url=database_url)
    assert code == 0
    assert done["before"] == {"connections": 0, "web": 0, "dashboards": 0, "workspaces": 0}
    assert done["after"] == health["latest"]
    code, health, _ = flitch(tmp_path, "db", "check", "--json", url=database_url)
    assert (code, health["state"], health["versions"]) == (0, "up to date", done["after"])
    assert health["round_trip_ms"] >= 0
    code, text, _ = flitch(tmp_path, "db", "upgrade", url=database_url)
    assert code == 0
    assert "Already up to date" in text


def test_check_says_when_the_server_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql://flitch:s3cret@127.0.0.1:1/flitch"
    code, health, _ = flitch(tmp_path, "db", "check", "--json", url=url)
    assert code == 1
    assert health["reachable"] is False
    assert "FLITCH_DATABASE_URL" in health["fix"]
    assert "s3cret" not in json.dumps(health)


def test_check_says_when_the_schema_is_behind(tmp_path: Path, postgres_url: str) -> None:
    with open_database(tmp_path, postgres_url) as db, db.write() as tx:
        tx.execute("DELETE FROM web_schema_migrations WHERE version = 3")
    code, health, _ = flitch(tmp_path, "db", "check", "--json", url=postgres_url)
    assert (code, health["state"]) == (1, "behind")
    assert "flitch db upgrade" in health["fix"]


@pytest.fixture
def sqlite_install(tmp_path: Path, tiny_emulator: Emulator) -> Settings:
    """A single-machine install with a bit of everything: a connection with a refresh run, an
    admin with an API token and a session, a failed sign-in, a dashboard."""
    settings = Settings(home=tmp_path / "home", stripe_api_base=tiny_emulator.url)
    with ConnectionService(settings) as service:
        saved = service.create("Shop", TEST_KEY, objects="customers,charges", refresh="1h")
        cid = saved.connection.id
        for _ in range(3):
            run = service.db.record_run_start(cid, ["customers"], trigger="manual")
            service.db.record_run_finish(run, "ok", records=1)
    db = open_database(settings.home)
    users = UserStore(db, hasher=cheap())
    ada = users.add("ada", "correct horse battery", Role.ADMIN)
    users.create_token("ada", "nightly")
    SessionStore(db).create(ada)
    SignInThrottle(db).reserve("mallory", "10.0.0.66")
    DashboardStore(db).create(
        Dashboard(name="ops", title="Ops", charts=(Chart("MRR", ChartType.NUMBER, "mrr"),))
    )
    db.close()
    return settings


def test_an_install_moves_to_postgres_and_keeps_working(
    sqlite_install: Settings, postgres_url: str
) -> None:
    home = sqlite_install.home
    with ConnectionService(sqlite_install) as before:
        runs_before = [r.id for r in before.db.runs(before.get("Shop").id)]
        sealed_before = before.table.get("Shop").key_sealed
    code, moved, _ = flitch(home, "migrate-to-postgres", "--to", postgres_url, "--json")
    assert code == 0, moved
    assert moved["rows"]["connections"] == 1
    assert moved["rows"]["datasets"] == 2
    assert moved["rows"]["refresh_runs"] == 3
    assert moved["rows"]["web_users"] == 1
    assert moved["rows"]["web_api_tokens"] == 1
    assert moved["rows"]["web_sessions"] == 1
    assert moved["rows"]["web_signin_failures"] == 2
    assert moved["rows"]["dash_dashboards"] == 1
    assert "postgresql://" in moved["target"]

    served = Settings(
        home=home, database_url=postgres_url, stripe_api_base=sqlite_install.stripe_api_base
    )
    with ConnectionService(served) as after:
        shop = after.get("shop")
        assert [r.id for r in after.db.runs(shop.id)] == runs_before  # same order
        assert after.table.get("Shop").key_sealed == sealed_before  # still sealed, as it was
        assert after.retest("Shop").connection.last_test.authenticated  # and unsealed by the key
        assert {d.object for d in shop.datasets} == {"customers", "charges"}
    db = open_database(home, postgres_url)
    users = UserStore(db, hasher=cheap())
    assert users.verify("ada", "correct horse battery") is not None
    bob = users.add("bob", "another long password", Role.VIEWER)  # numbered past the copied
    assert bob.id > users.get("ada").id
    assert DashboardStore(db).get("ops").title == "Ops"
    db.close()

    # A second move would mix two installs: refused, and nothing changes.
    code, refused, _ = flitch(home, "migrate-to-postgres", "--to", postgres_url, "--json")
    assert code == 1
    assert "already holds Flitch data" in refused["error"]["message"]


def test_moving_needs_a_postgres_url(sqlite_install: Settings) -> None:
    code, refused, _ = flitch(sqlite_install.home, "migrate-to-postgres", "--json")
    assert code == 1
    assert "--to" in refused["error"]["fix"]
