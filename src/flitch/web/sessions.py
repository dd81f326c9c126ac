"""Browser sessions: a random cookie value, stored only as its SHA-256 digest.

A session ends when the user signs out, after ``IDLE_LIMIT`` without a request, after
``LIFETIME`` in any case, when the user's password changes, or when the user is deleted. Each
session carries its own anti-forgery token (the synchroniser token the pages send back).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flitch import clock as clocks
from flitch.metadb import Database
from flitch.web import userdb
from flitch.web.users import Role, User, hash_token

IDLE_LIMIT = 7 * 24 * 3600.0
LIFETIME = 30 * 24 * 3600.0
#: last_seen is written at most this often, so reads stay reads.
TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    created_at: float
    #: the workspace the session last switched to (None: the user's first)
    workspace_id: str | None = None


class SessionStore:
    def __init__(self, path: Database | Path, *, clock: Callable[[], float] = clocks.now) -> None:
        self.db = userdb.database(path)
        self.clock = clock

    def create(self, user: User) -> tuple[str, Session]:
        """A new session for a user: the cookie value (secret) and the session."""
        secret = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
                (now - IDLE_LIMIT, now - LIFETIME),
            )
            conn.execute(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (hash_token(secret), user.id, csrf_token, now, now),
            )
        return secret, Session(user=user, csrf_token=csrf_token, created_at=now)

    def lookup(self, secret: str) -> Session | None:
        """The live session a cookie value names, or ``None``."""
        if not secret or len(secret) > 200:
            return None
        digest = hash_token(secret)
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT s.csrf_token, s.created_at AS s_created, s.last_seen,"
                " s.workspace_id AS s_workspace, u.* "
                "FROM web_sessions s JOIN web_users u ON u.id = s.user_id "
                "WHERE s.token_hash = ?",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            if (
                now - float(row["last_seen"]) > IDLE_LIMIT
                or now - float(row["s_created"]) > LIFETIME
            ):
                conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (digest,))
                return None
            if now - float(row["last_seen"]) > TOUCH_EVERY:
                conn.execute(
                    "UPDATE web_sessions SET last_seen = ? WHERE token_hash = ?", (now, digest)
                )
        user = User(
            id=int(row["id"]),
            name=str(row["name"]),
            role=Role(row["role"]),
            created_at=float(row["created_at"]),
        )
        workspace = row["s_workspace"]
        return Session(
            user=user,
            csrf_token=str(row["csrf_token"]),
            created_at=float(row["s_created"]),
            workspace_id=None if workspace is None else str(workspace),
        )

    def switch(self, secret: str, workspace_id: str) -> None:
        """Make ``workspace_id`` the workspace this session's requests act in (the caller has
        checked the user belongs to it)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE web_sessions SET workspace_id = ? WHERE token_hash = ?",
                (workspace_id, hash_token(secret)),
            )

    def delete(self, secret: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (hash_token(secret),))

    def count(self, user: User) -> int:
        with self.db.read() as conn:
            found = conn.execute(
                "SELECT COUNT(*) FROM web_sessions WHERE user_id = ?", (user.id,)
            ).scalar()
        return int(found)
