"""``/healthz`` and ``/readyz`` on each engine: open to anyone, JSON, nothing secret; ready
only with the metadata reachable, its schema current and the cache folder writable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flitch.config import Settings
from flitch.metadb.upgrade import latest
from flitch.web import create_app


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as web:
        yield web


def _no_secrets(text: str, settings: Settings) -> None:
    assert str(settings.home) not in text
    assert "127.0.0.1" not in text
    if settings.database_url:
        assert settings.database_url not in text
        assert "flitch@" not in text


def test_alive_and_ready_before_anyone_signed_in(client: TestClient, settings: Settings) -> None:
    alive = client.get("/healthz", follow_redirects=False)
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert alive.headers["cache-control"] == "no-store"
    ready = client.get("/readyz", follow_redirects=False)
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["metadata"] == {
        "ok": True,
        "engine": "postgresql" if settings.database_url else "sqlite",
    }
    assert body["checks"]["migrations"] == {"ok": True, "versions": latest()}
    assert body["checks"]["cache"] == {"ok": True}
    _no_secrets(ready.text, settings)


def test_not_ready_while_the_migrations_are_behind(client: TestClient, settings: Settings) -> None:
    db = client.app.state.flitch.connections.db  # type: ignore[attr-defined]
    with db.write() as tx:
        tx.execute("DELETE FROM schema_version WHERE version = ?", (latest()["connections"],))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    migrations = answer.json()["checks"]["migrations"]
    assert migrations["ok"] is False
    assert migrations["versions"]["connections"] == latest()["connections"] - 1
    assert "flitch db upgrade" in migrations["fix"]
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_not_ready_when_the_cache_folder_takes_no_file(
    client: TestClient, settings: Settings
) -> None:
    cache = settings.home / "cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    if cache.is_dir():
        cache.rmdir()
    cache.write_text("not a folder")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    check = answer.json()["checks"]["cache"]
    assert check["ok"] is False
    assert "FLITCH_HOME" in check["fix"]
    _no_secrets(answer.text, settings)


def test_not_ready_when_the_metadata_database_does_not_answer(
    client: TestClient, settings: Settings
) -> None:
    client.app.state.flitch.connections.db.db.close()  # type: ignore[attr-defined]
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["metadata"]["ok"] is False
    assert "flitch db check" in body["checks"]["metadata"]["fix"]
    assert "migrations" not in body["checks"]
    _no_secrets(answer.text, settings)
