"""Workspaces in the metadata, on each engine: an install made before workspaces becomes the
workspace "default" holding everything, every user keeping their role; members, owners and
invitations keep their rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from flitch.connections.connection_table import ConnectionTable
from flitch.connections.metadata import MetadataDB
from flitch.dashboards.model import Dashboard
from flitch.dashboards.storage import DashboardStore
from flitch.errors import InputError, NotFound
from flitch.metadb import open_database
from flitch.metadb import upgrade as upgrades
from flitch.metadb.schema import CONNECTIONS as CONNECTIONS_TRACK
from flitch.metadb.schema import DASHBOARDS, WEB, WORKSPACES
from flitch.web.users import UserStore
from flitch.workspaces import DEFAULT_WORKSPACE, MembershipConflict, Role, WorkspaceStore

NOW = 1_800_000_000.0


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def test_an_install_from_before_workspaces_becomes_the_default_one(
    tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database written by the previous schema: every part but the workspaces', with rows.
    with monkeypatch.context() as m:
        m.setattr(upgrades, "TRACKS", (CONNECTIONS_TRACK, WEB, DASHBOARDS))
        old = open_database(tmp_path, database_url)
        with old.write() as tx:
            tx.execute(
                "INSERT INTO connections (id, name, name_key, mode, key_sealed, key_fingerprint,"
                " key_masked, key_last4, created_at, updated_at) VALUES"
                " ('conn_aaaaaaaaaaaaaaaa', 'Shop', 'shop', 'test', ?, 'f', 'rk_test_…x', 'x',"
                " 1, 1)",
                (b"sealed",),
            )
            tx.execute(
                "INSERT INTO datasets (connection_id, object, position, status, status_at)"
                " VALUES ('conn_aaaaaaaaaaaaaaaa', 'customers', 0, 'ok', 1)"
            )
            for name, role in (("ada", "admin"), ("vic", "viewer"), ("zoe", "admin")):
                tx.execute(
                    "INSERT INTO web_users (name, role, password_hash, created_at)"
                    " VALUES (?, ?, 'x', 1)",
                    (name, role),
                )
            tx.execute(
                "INSERT INTO web_api_tokens (user_id, label, prefix, token_hash, created_at)"
                " SELECT id, 'nightly', 'flt_abcd', 'h', 1 FROM web_users WHERE name = 'vic'"
            )
            tx.execute(
                "INSERT INTO dash_dashboards (name, title, body, position, created_at,"
                " updated_at) VALUES ('ops', 'Ops', ?, 0, 1, 1)",
                (json.dumps(Dashboard(name="ops", title="Ops", charts=()).to_dict()),),
            )
        old.close()

    db = open_database(tmp_path, database_url)  # brings it up to date
    with db.read() as tx:
        assert tx.execute("SELECT count(*) FROM workspace_schema_migrations").scalar() == 1
    assert upgrades.versions(db) == upgrades.latest()
    assert upgrades.versions(db)["workspaces"] == WORKSPACES.latest
    store = WorkspaceStore(db)
    assert [(w.id, w.name) for w in store.all()] == [(DEFAULT_WORKSPACE, "default")]
    members = {m.name: (m.role, m.owner) for m in store.members(DEFAULT_WORKSPACE)}
    assert members == {
        "ada": (Role.ADMIN, True),
        "vic": (Role.VIEWER, False),
        "zoe": (Role.ADMIN, True),
    }
    with db.read() as tx:
        row = tx.execute("SELECT workspace_id, name_key FROM connections").fetchone()
        assert row is not None
        assert (row[0], row[1]) == (DEFAULT_WORKSPACE, f"{DEFAULT_WORKSPACE}/shop")
        assert tx.execute("SELECT workspace_id FROM web_api_tokens").scalar() == DEFAULT_WORKSPACE
        assert tx.execute("SELECT count(*) FROM datasets").scalar() == 1
    # What the install had is found in its workspace, by name as before, and only there.
    meta = MetadataDB(tmp_path, database_url)
    try:
        assert ConnectionTable(meta, DEFAULT_WORKSPACE).get("SHOP").id == "conn_aaaaaaaaaaaaaaaa"
        assert ConnectionTable(meta).get("shop").id == "conn_aaaaaaaaaaaaaaaa"
        other = store.create("Other")
        assert ConnectionTable(meta, other.id).find("conn_aaaaaaaaaaaaaaaa") is None
        assert ConnectionTable(meta, other.id).rows() == []
    finally:
        meta.close()
    assert DashboardStore(db).get("ops").title == "Ops"
    with pytest.raises(NotFound):
        DashboardStore(db, other.id).get("ops")
    DashboardStore(db, other.id).create(Dashboard(name="ops", title="Their ops", charts=()))
    assert DashboardStore(db).get("ops").title == "Ops"
    db.close()


def test_members_owners_and_invitations(tmp_path: Path, database_url: str | None) -> None:
    db = open_database(tmp_path, database_url)
    users = UserStore(db, clock=lambda: NOW, hasher=cheap())
    store = WorkspaceStore(db, clock=lambda: NOW)
    ada = users.add("ada", "correct horse battery", Role.ADMIN)
    bea = users.add("bea", "another password", Role.VIEWER, workspace_id=None)
    assert [m.workspace.id for m in store.memberships(ada.id)] == [DEFAULT_WORKSPACE]
    assert store.memberships(bea.id) == []
    with pytest.raises(InputError, match="not a member"):
        users.create_token("bea", "a token of nowhere")  # default: bea is not in it
    beta = store.create("Beta", owner_id=bea.id)
    with pytest.raises(MembershipConflict, match="already exists"):
        store.create("BETA")
    with pytest.raises(InputError, match="cannot be used"):
        store.create("")
    # the last owner can neither leave nor stop being an owner
    with pytest.raises(MembershipConflict, match="last owner"):
        store.remove(beta.id, bea.id)
    with pytest.raises(MembershipConflict, match="last owner"):
        store.set_role(beta.id, bea.id, Role.VIEWER)
    code, expires = store.invite(beta.id, Role.ADMIN, by=bea.id)
    assert expires > NOW
    joined = store.accept(code, ada.id)
    assert (joined.workspace.id, joined.role, joined.owner) == (beta.id, Role.ADMIN, False)
    with pytest.raises(InputError, match="not valid"):
        store.accept(code, ada.id)  # a code works once
    store.set_role(beta.id, ada.id, Role.ADMIN, owner=True)
    store.remove(beta.id, bea.id)  # another owner remains
    assert [m.name for m in store.members(beta.id)] == ["ada"]
    # ada's token of Beta ends when she leaves it; her default one stays
    users.create_token("ada", "default script")
    users.create_token("ada", "beta script", workspace_id=beta.id)
    store.add_member(beta.id, bea.id, Role.ADMIN, owner=True)
    store.remove(beta.id, ada.id)
    labels = [t.label for t in users.list_tokens(ada.id)]
    assert labels == ["default script"]
    # the last owner of a workspace cannot be deleted as a user either
    with pytest.raises(MembershipConflict, match="last owner"):
        users.delete("bea")
    # an expired code is refused
    late, _ = store.invite(beta.id, Role.VIEWER, by=bea.id)
    later = WorkspaceStore(db, clock=lambda: NOW + 8 * 24 * 3600)
    with pytest.raises(InputError, match="expired"):
        later.accept(late, ada.id)
    db.close()
