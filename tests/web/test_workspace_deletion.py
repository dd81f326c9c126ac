"""Deleting a workspace leaves no trace of it: after its owner types its name again, no file
under FLITCH_HOME and no metadata row holds its id, its connection's id, sealed key or records,
its dashboards or its API tokens — the test disconnect has, for a whole workspace — while the
other workspace is untouched. On SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from flitch.config import Settings
from flitch.metadb.schema import TABLES
from flitch.web.users import Role, hash_token
from tests.conftest import TEST_KEY
from tests.web.conftest import Web

BEA = ("bea", "bea's own password")


def files_under(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def rows_text(web: Web) -> str:
    """Every metadata row, as text."""
    db = web.app.state.flitch.users.db
    with db.read() as tx:
        tables = [*TABLES, "refresh_jobs"]
        return "\n".join(
            repr(tuple(row)) for t in tables for row in tx.execute(f"SELECT * FROM {t}")
        )


def refreshed(web: Web, connection: str) -> None:
    job = web.api("POST", f"/api/v1/connections/{connection}/refresh").json()["id"]
    deadline = time.monotonic() + 60
    while web.api("GET", f"/api/v1/refreshes/{job}").json()["state"] == "running":
        assert time.monotonic() < deadline, "the refresh did not end"
        time.sleep(0.1)


def test_deleting_a_workspace_leaves_no_trace(
    web_settings: Settings, database_url: str | None, make_app: Callable[..., FastAPI]
) -> None:
    settings = dataclasses.replace(web_settings, database_url=database_url)
    ada = Web(make_app(settings))
    assert ada.setup().status_code == 303
    ada.page("/data")
    keeper = ada.api(
        "POST", "/api/v1/connections", {"name": "Keeper", "key": TEST_KEY, "objects": ["products"]}
    )
    assert keeper.status_code == 201, keeper.text
    ctx = ada.app.state.flitch
    bea_user = ctx.users.add(*BEA, Role.VIEWER, workspace_id=None)
    beta = ctx.workspaces.create("Beta", owner_id=bea_user.id)
    bea = Web(ada.app)
    bea.sign_in(*BEA)
    made = bea.api(
        "POST",
        "/api/v1/connections",
        {"name": "Doomed", "key": TEST_KEY, "objects": ["customers", "charges"]},
    )
    assert made.status_code == 201, made.text
    doomed = made.json()["connection"]["id"]
    refreshed(bea, doomed)
    rows = bea.api("GET", f"/api/v1/connections/{doomed}/datasets/customers/rows").json()
    ids = [r[[c["name"] for c in rows["columns"]].index("id")] for r in rows["rows"]]
    assert ids
    board = bea.api("POST", "/api/v1/dashboards", {"name": "beta-board", "title": "Beta only"})
    assert board.status_code == 201, board.text
    secret = bea.api("POST", "/api/v1/tokens", {"label": "beta script"}).json()["secret"]
    assert bea.api("POST", "/api/v1/workspace/invitations", {"role": "viewer"}).status_code == 201
    sealed = ctx.connections.table.get(doomed).key_sealed
    cache = ctx.connections.cache_dir(doomed)
    traces = [
        beta.id.encode(),
        doomed.encode(),
        sealed,
        sealed[-16:],
        hash_token(secret).encode(),
        b"beta-board",
        b"Beta only",
        *(i.encode() for i in ids),
    ]
    before = files_under(settings.home) + rows_text(ada).encode()
    assert all(t in before for t in (beta.id.encode(), doomed.encode(), ids[0].encode()))

    # a wrong name typed, or a viewer of the workspace: nothing is deleted
    wrong = bea.api("DELETE", "/api/v1/workspace", {"confirm": "beta"})
    assert wrong.status_code == 400, wrong.text
    assert "Type the workspace's name, 'Beta'" in wrong.json()["fix"]
    assert bea.api("GET", f"/api/v1/connections/{doomed}").status_code == 200
    # from workspace A, B cannot be named at all
    assert ada.api("DELETE", "/api/v1/workspace", {"confirm": "Beta"}).status_code == 409

    done = bea.api("DELETE", "/api/v1/workspace", {"confirm": "Beta"})
    assert done.status_code == 200, done.text
    assert [c["id"] for c in done.json()["connections"]] == [doomed]
    assert "dashboard.stripe.com/apikeys" in done.json()["reminder"]
    assert not cache.exists()
    assert not (settings.home / "cache" / beta.id).exists()
    after = files_under(settings.home)
    rows_after = rows_text(ada).encode()
    for trace in traces:
        assert trace not in after, trace[:40]
        assert trace not in rows_after, trace[:40]
    # bea is signed in still, in no workspace: she sees nothing, and her token ended
    assert bea.api("GET", "/api/v1/me").json()["workspace"] is None
    assert bea.api("GET", "/api/v1/connections").json() == []
    gone = bea.client.get("/api/v1/connections", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401
    # workspace A is as it was
    assert [c["name"] for c in ada.api("GET", "/api/v1/connections").json()] == ["Keeper"]
