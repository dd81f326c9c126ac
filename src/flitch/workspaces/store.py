"""Workspaces and their members in the metadata database (``workspaces``,
``workspace_members``, ``workspace_invites``; the ``workspaces`` part of
:mod:`flitch.metadb.schema`).

Invitations are one-time codes: 128 random bits shown once to the owner who made one, stored
only as their SHA-256 digest, valid for :data:`INVITE_LIFETIME`, spent by the first user who
accepts. No e-mail server is needed: the owner passes the code on however they like.

Every change of members keeps an owner: the last owner can be neither demoted nor removed (nor
leave). Removing a member also ends the API tokens they made for that workspace and moves their
sessions out of it, in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from flitch import clock as clocks
from flitch.errors import InputError, NotFound
from flitch.metadb import Database, IntegrityError, Row, Tx
from flitch.workspaces.model import (
    DEFAULT_WORKSPACE,
    ID_PREFIX,
    Member,
    Membership,
    MembershipConflict,
    Role,
    Workspace,
    check_name,
)

#: How long an invitation code stays valid.
INVITE_LIFETIME = 7 * 24 * 3600.0
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_workspace_id() -> str:
    return ID_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


class WorkspaceStore:
    """Create and find workspaces; add, change and remove their members; invitations."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = clocks.now) -> None:
        self.db = db
        self.clock = clock

    # -- workspaces ------------------------------------------------------------------------------
    def all(self) -> list[Workspace]:
        with self.db.read() as tx:
            rows = tx.execute("SELECT * FROM workspaces ORDER BY name_key").fetchall()
        return [_workspace(r) for r in rows]

    def get(self, name_or_id: str) -> Workspace:
        """A workspace by id or name (any case); ``NotFound`` says how to list them."""
        wanted = name_or_id.strip()
        with self.db.read() as tx:
            row = tx.execute(
                "SELECT * FROM workspaces WHERE id = ? OR name_key = ?"
                " ORDER BY (id = ?) DESC LIMIT 1",
                (wanted, wanted.casefold(), wanted),
            ).fetchone()
        if row is None:
            raise NotFound(
                f"There is no workspace called {wanted[:64]!r}.",
                "List yours with `flitch workspaces list` (or GET /api/v1/workspaces).",
            )
        return _workspace(row)

    def create(self, name: str, *, owner_id: int | None = None) -> Workspace:
        """A new workspace; ``owner_id``'s user becomes its first owner (an admin)."""
        clean = check_name(name)
        workspace = Workspace(new_workspace_id(), clean, self.clock())
        with self.db.write() as tx:
            try:
                tx.execute(
                    "INSERT INTO workspaces (id, name, name_key, created_at) VALUES (?, ?, ?, ?)",
                    (workspace.id, clean, clean.casefold(), workspace.created_at),
                )
            except IntegrityError:
                raise MembershipConflict(
                    f"A workspace named {clean!r} already exists.", "Choose another name."
                ) from None
            if owner_id is not None:
                put_member(tx, workspace.id, owner_id, Role.ADMIN, True, workspace.created_at)
        return workspace

    def delete(self, workspace_id: str) -> None:
        """Remove an emptied workspace's row: its members, invitations, API tokens and
        dashboards go with it (sessions in it move to their user's next one). Its connections
        must be deleted first (:func:`flitch.workspaces.deletion.delete_workspace`)."""
        with self.db.write() as tx:
            left = tx.execute(
                "SELECT count(*) FROM connections WHERE workspace_id = ?", (workspace_id,)
            ).scalar()
            if int(left):
                raise MembershipConflict(
                    "The workspace still has connections.",
                    "Delete it with flitch workspaces delete (or DELETE /api/v1/workspace), "
                    "which deletes its connections first.",
                )
            tx.execute("DELETE FROM workspaces WHERE id = ?", (workspace_id,))

    def usage(self) -> list[dict[str, Any]]:
        """Per workspace, what an instance admin may see — how much, never what: members,
        connections, cached rows, the last refresh's end and the Stripe requests refreshes made
        (of the runs kept)."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT w.id, w.name,"
                " (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id),"
                " (SELECT count(*) FROM connections c WHERE c.workspace_id = w.id),"
                " (SELECT coalesce(sum(d.rows), 0) FROM datasets d JOIN connections c"
                "   ON c.id = d.connection_id WHERE c.workspace_id = w.id),"
                " (SELECT max(r.finished_at) FROM refresh_runs r JOIN connections c"
                "   ON c.id = r.connection_id WHERE c.workspace_id = w.id),"
                " (SELECT coalesce(sum(r.requests), 0) FROM refresh_runs r JOIN connections c"
                "   ON c.id = r.connection_id WHERE c.workspace_id = w.id)"
                " FROM workspaces w ORDER BY w.name_key"
            ).fetchall()
        return [
            {
                "id": str(r[0]),
                "name": str(r[1]),
                "members": int(r[2]),
                "connections": int(r[3]),
                "rows": int(r[4]),
                "last_refresh_at": None if r[5] is None else float(r[5]),
                "stripe_requests": int(r[6]),
            }
            for r in rows
        ]

    # -- memberships -----------------------------------------------------------------------------
    def memberships(self, user_id: int) -> list[Membership]:
        """The workspaces a user belongs to, by name."""
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT w.*, m.role, m.owner FROM workspace_members m"
                " JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?"
                " ORDER BY (w.id = ?) DESC, w.name_key",
                (user_id, DEFAULT_WORKSPACE),
            ).fetchall()
        return [_membership(r) for r in rows]

    def membership(
        self, user_id: int, workspace_id: str | None, *, fallback: bool = True
    ) -> Membership | None:
        """The user's place in that workspace; without one (or ``None``), their first one,
        unless ``fallback`` is False (then ``None``)."""
        mine = self.memberships(user_id)
        for m in mine:
            if m.workspace.id == workspace_id:
                return m
        return mine[0] if mine and fallback else None

    def members(self, workspace_id: str) -> list[Member]:
        with self.db.read() as tx:
            rows = tx.execute(
                "SELECT m.*, u.name FROM workspace_members m JOIN web_users u ON u.id = m.user_id"
                " WHERE m.workspace_id = ? ORDER BY lower(u.name)",
                (workspace_id,),
            ).fetchall()
        return [
            Member(
                user_id=int(r["user_id"]),
                name=str(r["name"]),
                role=Role(r["role"]),
                owner=bool(r["owner"]),
                joined_at=float(r["joined_at"]),
            )
            for r in rows
        ]

    def add_member(
        self, workspace_id: str, user_id: int, role: Role, *, owner: bool = False
    ) -> None:
        """Make a user a member (or change their role if they are one); owners are admins."""
        with self.db.write() as tx:
            put_member(tx, workspace_id, user_id, role, owner, self.clock())

    def set_role(
        self, workspace_id: str, user_id: int, role: Role, *, owner: bool | None = None
    ) -> None:
        """A member's new role (and owner flag, when given); the last owner stays one."""
        with self.db.write() as tx:
            current = _member_row(tx, workspace_id, user_id)
            is_owner = bool(current["owner"]) if owner is None else owner
            if role is not Role.ADMIN:
                is_owner = False
            if bool(current["owner"]) and not is_owner:
                refuse_if_last_owner(tx, workspace_id, user_id)
            tx.execute(
                "UPDATE workspace_members SET role = ?, owner = ?"
                " WHERE workspace_id = ? AND user_id = ?",
                (role.value, int(is_owner), workspace_id, user_id),
            )

    def remove(self, workspace_id: str, user_id: int) -> None:
        """Take a member out (or let them leave): their tokens of the workspace end with it."""
        with self.db.write() as tx:
            current = _member_row(tx, workspace_id, user_id)
            if bool(current["owner"]):
                refuse_if_last_owner(tx, workspace_id, user_id)
            tx.execute(
                "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            )
            tx.execute(
                "DELETE FROM web_api_tokens WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            )
            tx.execute(
                "UPDATE web_sessions SET workspace_id = NULL"
                " WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            )

    # -- invitations -----------------------------------------------------------------------------
    def invite(self, workspace_id: str, role: Role, *, by: int | None) -> tuple[str, float]:
        """A one-time code that makes whoever accepts it a member with ``role``: the code (shown
        once, stored only as its digest) and when it expires."""
        code = "inv_" + secrets.token_urlsafe(16)
        now = self.clock()
        expires = now + INVITE_LIFETIME
        with self.db.write() as tx:
            tx.execute("DELETE FROM workspace_invites WHERE expires_at < ?", (now,))
            tx.execute(
                "INSERT INTO workspace_invites (code_hash, workspace_id, role, created_by,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (_digest(code), workspace_id, role.value, by, now, expires),
            )
        return code, expires

    def is_valid(self, code: str) -> bool:
        """Whether an invitation code would be accepted now (without spending it)."""
        with self.db.read() as tx:
            expires = tx.execute(
                "SELECT expires_at FROM workspace_invites WHERE code_hash = ?", (_digest(code),)
            ).scalar()
        return expires is not None and float(expires) >= self.clock()

    def accept(self, code: str, user_id: int) -> Membership:
        """Spend an invitation code: the user joins its workspace (a member keeps the higher
        of their role and the invitation's)."""
        now = self.clock()
        with self.db.write() as tx:
            row = tx.execute(
                "DELETE FROM workspace_invites WHERE code_hash = ? RETURNING *", (_digest(code),)
            ).fetchone()
            if row is None or float(row["expires_at"]) < now:
                raise InputError(
                    "That invitation code is not valid: it was used already, it expired, or it "
                    "was mistyped.",
                    "Ask an owner of the workspace for a new code.",
                )
            role = Role(row["role"])
            existing = tx.execute(
                "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                (row["workspace_id"], user_id),
            ).fetchone()
            if existing is None:
                put_member(tx, str(row["workspace_id"]), user_id, role, False, now)
            elif role is Role.ADMIN and existing["role"] != Role.ADMIN.value:
                tx.execute(
                    "UPDATE workspace_members SET role = 'admin'"
                    " WHERE workspace_id = ? AND user_id = ?",
                    (row["workspace_id"], user_id),
                )
            workspace_id = str(row["workspace_id"])
        found = self.membership(user_id, workspace_id)
        assert found is not None
        assert found.workspace.id == workspace_id
        return found


def put_member(
    tx: Tx, workspace_id: str, user_id: int, role: Role, owner: bool, now: float
) -> None:
    """Make a user a member, or set their role and owner flag (inside ``tx``)."""
    owner = owner and role is Role.ADMIN
    tx.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role, owner, joined_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, user_id)"
        " DO UPDATE SET role = excluded.role, owner = excluded.owner",
        (workspace_id, user_id, role.value, int(owner), now),
    )


def _member_row(tx: Tx, workspace_id: str, user_id: int) -> Row:
    row = tx.execute(
        "SELECT * FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
        (workspace_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound(
            "That user is not a member of this workspace.",
            "List the members (GET /api/v1/workspace/members) to check the name.",
        )
    return row


def refuse_if_last_owner(tx: Tx, workspace_id: str, user_id: int) -> None:
    """Refuse, inside ``tx``, a change that would leave the workspace without an owner
    (nothing to refuse when the user is no owner of it)."""
    if not tx.execute(
        "SELECT 1 FROM workspace_members WHERE workspace_id = ? AND user_id = ? AND owner = 1",
        (workspace_id, user_id),
    ).fetchone():
        return
    others = tx.execute(
        "SELECT COUNT(*) FROM workspace_members WHERE workspace_id = ? AND owner = 1"
        " AND user_id != ?",
        (workspace_id, user_id),
    ).scalar()
    if int(others) == 0:
        raise MembershipConflict(
            "This is the workspace's last owner.",
            "Make another member an owner first, so someone can still manage the workspace.",
        )


def _workspace(row: Row) -> Workspace:
    return Workspace(id=str(row["id"]), name=str(row["name"]), created_at=float(row["created_at"]))


def _membership(row: Row) -> Membership:
    return Membership(workspace=_workspace(row), role=Role(row["role"]), owner=bool(row["owner"]))
