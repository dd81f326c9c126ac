"""Refresh now in server mode: the web app queues a job instead of refreshing in its own
process; a worker runs it; another replica follows its progress and sees it end."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from flitch.refresh.jobs import JobQueue
from flitch.refresh.worker import Worker
from flitch.web import create_app, userdb
from flitch.web.users import Role, UserStore
from tests.conftest import TEST_KEY
from tests.server.support import Install, wait_for


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_refresh_now_is_queued_run_by_a_worker_and_followed_on_another_replica(
    make_install: Callable[..., Install],
) -> None:
    install = make_install(customers=80)  # charges take several pages
    settings = dataclasses.replace(install.settings, refresh_workers=True)
    conn = install.service.create("Shop", TEST_KEY, objects="customers,charges").connection
    assert conn is not None
    db = userdb.for_settings(settings)
    users = UserStore(db, hasher=cheap())
    users.add("ada", "correct horse battery", Role.ADMIN)
    _, secret = users.create_token("ada", "replicas")
    db.close()
    auth = {"Authorization": f"Bearer {secret}"}
    first = TestClient(create_app(settings, password_hasher=cheap()), base_url="http://localhost")
    second = TestClient(create_app(settings, password_hasher=cheap()), base_url="http://localhost")
    with first, second:
        started = first.post("/api/v1/connections/Shop/refresh", headers=auth, json={})
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["id"].startswith("job_")
        assert (job["state"], job["stage"]) == ("running", "queued")
        again = second.post("/api/v1/connections/Shop/refresh", headers=auth, json={})
        assert again.json()["id"] == job["id"]  # the waiting job, not a second one
        assert len(JobQueue(install.service.db.db).jobs()) == 1
        assert not install.service.db.runs(conn.id)  # no replica refreshed anything

        install.emulator.config.latency_ms = 700  # pages one after another: heartbeats see it run
        with Worker(settings, lease=1.5) as worker:
            thread = threading.Thread(target=worker.run_one)
            thread.start()

            def progressing() -> dict[str, Any] | None:
                seen = second.get(f"/api/v1/refreshes/{job['id']}", headers=auth).json()
                ended = seen["state"] != "running"
                return seen if ended or (seen["stage"] != "queued" and seen["datasets"]) else None

            midway = wait_for(progressing, 60, "the worker's progress on the other replica")
            assert midway["state"] == "running"
            assert {d["object"] for d in midway["datasets"]} == {"customers", "charges"}
            thread.join(120)
        done = second.get(f"/api/v1/refreshes/{job['id']}", headers=auth).json()
        assert (done["state"], done["stage"], done["error"]) == ("ok", "done", None)
        assert done["records"] > 0
        assert done["run_id"] is not None
        state = first.get("/api/v1/connections/Shop/refresh", headers=auth).json()
        assert state["job"]["id"] == job["id"]
        assert state["last_run"]["outcome"] == "ok"
        assert state["last_run"]["trigger"] == "web"


def test_deleting_a_connection_stops_the_worker_refreshing_it(
    make_install: Callable[..., Install],
) -> None:
    install = make_install()
    settings = dataclasses.replace(install.settings, refresh_workers=True)
    conn = install.service.create("Shop", TEST_KEY, objects="customers,charges").connection
    assert conn is not None
    db = userdb.for_settings(settings)
    users = UserStore(db, hasher=cheap())
    users.add("ada", "correct horse battery", Role.ADMIN)
    _, secret = users.create_token("ada", "ops")
    db.close()
    auth = {"Authorization": f"Bearer {secret}"}
    install.emulator.config.latency_ms = 2000
    web = TestClient(create_app(settings, password_hasher=cheap()), base_url="http://localhost")
    events: list[str] = []
    with web, Worker(settings, lease=1.5, on_event=lambda e, _: events.append(e)) as worker:
        job = web.post("/api/v1/connections/Shop/refresh", headers=auth, json={}).json()
        thread = threading.Thread(target=worker.run_one)
        thread.start()
        wait_for(
            lambda: any(r.outcome.value == "running" for r in install.service.db.runs(conn.id)),
            60,
            "the worker to start the refresh",
        )
        deleted = web.delete("/api/v1/connections/Shop", headers=auth)
        assert deleted.status_code == 200, deleted.text
        thread.join(60)
        assert events == ["claimed", "lost"]
        gone = web.get(f"/api/v1/refreshes/{job['id']}", headers=auth)
        assert gone.status_code == 404
    assert not install.service.cache_dir(conn.id).exists()
