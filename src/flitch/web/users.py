"""Who may use the web app: users with a role and an argon2-hashed password, and API tokens.

Roles: an **admin** manages connections and users; a **viewer** sees datasets and dashboards.
A user's role in ``web_users`` is their role on the instance (an admin manages accounts and
workspaces); what they may do in a workspace is their role there (:mod:`flitch.workspaces`).
Passwords are hashed with argon2id (argon2-cffi); API tokens (``flt_…``) are random 256-bit
secrets stored as SHA-256 digests, so a copy of the database gives away neither. A token is shown
once, when it is created.

A token never outlives what made it: only a signed-in person (a session) or the terminal makes
one, never another token (see ``api_create_token``), so revoking a token leaves nothing it made
behind; a new password or a new role can end the user's tokens in the same transaction
(``revoke_tokens``); and each token records when and from which address it was last used.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from flitch import clock as clocks
from flitch.errors import InputError, NotFound
from flitch.metadb import Database, IntegrityError, Row, Tx
from flitch.web import setup_code, userdb
from flitch.web.errors import Conflict
from flitch.workspaces.model import DEFAULT_WORKSPACE, Role, parse_role

__all__ = ["ApiToken", "Role", "User", "UserStore", "parse_role"]
from flitch.workspaces.store import put_member, refuse_if_last_owner

TOKEN_PREFIX = "flt_"  # noqa: S105 (a prefix, not a secret)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
LABEL_MAX = 80


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    created_at: float

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class ApiToken:
    """A token's record; the secret itself is never stored."""

    id: int
    user_id: int
    user_name: str
    label: str
    #: the first characters of the secret, enough to recognise it in a list
    prefix: str
    created_at: float
    last_used_at: float | None
    #: the client address of its last use (None until used)
    last_used_from: str | None = None
    #: the workspace it acts in
    workspace_id: str | None = None


#: A token's last use is written at most this often (or when the address changes), so that a
#: script's every request does not write to the database.
TOUCH_EVERY = 60.0


def hash_token(secret: str) -> str:
    """The digest a session or API token is stored and looked up under."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """A user name as stored, or ``InputError`` saying what a name may contain."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"{name[:64]!r} cannot be used as a user name.",
            "Use 1 to 64 characters: letters, digits and . _ @ + - (starting with a letter or "
            "digit), for example 'ada' or 'ada@example.com'.",
        )
    return name


def check_password(password: str) -> str:
    """The password, or ``InputError`` saying how long it must be."""
    if len(password) < PASSWORD_MIN:
        raise InputError(
            f"That password is too short ({len(password)} characters).",
            f"Choose a password of at least {PASSWORD_MIN} characters; a few unrelated words "
            "make a good one.",
        )
    if len(password) > PASSWORD_MAX:
        raise InputError("That password is too long.", f"Use at most {PASSWORD_MAX} characters.")
    return password


class UserStore:
    """Users and API tokens in the metadata database."""

    def __init__(
        self,
        path: Database | Path,
        *,
        clock: Callable[[], float] = clocks.now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        #: the metadata database (a SQLite file's path is opened as one)
        self.db = userdb.database(path)
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        # Verified against when a name is unknown, so a wrong name costs as much as a wrong
        # password and the timing does not tell which names exist.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # users -----------------------------------------------------------------------------

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM web_users").scalar())

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM web_users ORDER BY lower(name)").fetchall()
        return [_user(row) for row in rows]

    def get(self, name: str) -> User:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM web_users WHERE lower(name) = lower(?)", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(
                f"There is no user named {name[:64]!r}.",
                "Check the name in the list of users (`flitch users list`).",
            )
        return _user(row)

    def get_by_id(self, user_id: int) -> User | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM web_users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    def add(
        self,
        name: str,
        password: str,
        role: Role,
        *,
        only_if_none: bool = False,
        code: str | None = None,
        workspace_id: str | None = DEFAULT_WORKSPACE,
    ) -> User:
        """Create a user. With ``only_if_none``, only while no user exists (first-run setup);
        with ``code``, only if it is the setup code (:mod:`flitch.web.setup_code`), checked in
        the same transaction. Any account created ends the setup code.

        ``role`` is the user's role on the instance (an admin manages accounts and
        workspaces) and in ``workspace_id``, which they join (an admin as an owner); ``None``
        joins none (an invitation code brings them in)."""
        name = check_name(name)
        password_hash = self.hasher.hash(check_password(password))
        with self.db.write() as conn:
            if only_if_none and conn.execute("SELECT 1 FROM web_users LIMIT 1").fetchone():
                raise Conflict(
                    "The first account was already created.",
                    "Sign in at /signin; an admin can add more accounts.",
                )
            if code is not None:
                setup_code.check(conn, code)
            setup_code.forget(conn)
            try:
                user_id = int(
                    conn.execute(
                        "INSERT INTO web_users (name, role, password_hash, created_at) "
                        "VALUES (?, ?, ?, ?) RETURNING id",
                        (name, role.value, password_hash, self.clock()),
                    ).scalar()
                )
            except IntegrityError:
                raise Conflict(
                    f"A user named {name!r} already exists.", "Choose another name."
                ) from None
            if workspace_id is not None:
                put_member(conn, workspace_id, user_id, role, role is Role.ADMIN, self.clock())
        user = self.get_by_id(user_id)
        assert user is not None
        return user

    def set_password(self, name: str, password: str, *, revoke_tokens: bool = False) -> int:
        """Set a new password, which signs the user out everywhere; with ``revoke_tokens``,
        their API tokens end too. Returns how many tokens were revoked."""
        user = self.get(name)
        password_hash = self.hasher.hash(check_password(password))
        with self.db.write() as conn:
            conn.execute(
                "UPDATE web_users SET password_hash = ? WHERE id = ?", (password_hash, user.id)
            )
            conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
            return _revoke_tokens(conn, user.id) if revoke_tokens else 0

    def set_role(
        self,
        name: str,
        role: Role,
        *,
        revoke_tokens: bool = False,
        workspace_id: str | None = DEFAULT_WORKSPACE,
    ) -> tuple[User, int]:
        """Give a user a new role, on the instance and in ``workspace_id`` (whose member they
        become, an admin as an owner; its last owner stays one); with ``revoke_tokens`` and a
        role that differs, their API tokens end (a token made to read dashboards does not
        become an admin's). Returns the user and how many tokens were revoked."""
        user = self.get(name)
        revoked = 0
        with self.db.write() as conn:
            if user.is_admin and role is not Role.ADMIN:
                self._refuse_if_last_admin(conn, user)
            conn.execute("UPDATE web_users SET role = ? WHERE id = ?", (role.value, user.id))
            if workspace_id is not None:
                if role is not Role.ADMIN:
                    refuse_if_last_owner(conn, workspace_id, user.id)
                put_member(conn, workspace_id, user.id, role, role is Role.ADMIN, self.clock())
            if revoke_tokens and role is not user.role:
                revoked = _revoke_tokens(conn, user.id)
        return self.get(name), revoked

    def delete(self, name: str) -> None:
        """Delete a user with their sessions, tokens and memberships; the last admin cannot be
        deleted, nor the last owner of a workspace."""
        user = self.get(name)
        with self.db.write() as conn:
            if user.is_admin:
                self._refuse_if_last_admin(conn, user)
            for row in conn.execute(
                "SELECT m.workspace_id FROM workspace_members m WHERE m.user_id = ?"
                " AND m.owner = 1",
                (user.id,),
            ).fetchall():
                refuse_if_last_owner(conn, str(row[0]), user.id)
            conn.execute("DELETE FROM web_users WHERE id = ?", (user.id,))

    def _refuse_if_last_admin(self, conn: Tx, user: User) -> None:
        others = conn.execute(
            "SELECT COUNT(*) FROM web_users WHERE role = 'admin' AND id != ?", (user.id,)
        ).scalar()
        if int(others) == 0:
            raise Conflict(
                f"{user.name!r} is the only admin.",
                "Make another user an admin first, so someone can still manage Flitch.",
            )

    def verify(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, or ``None``."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM web_users WHERE lower(name) = lower(?)", (name.strip(),)
            ).fetchone()
        stored = row["password_hash"] if row is not None else self._dummy_hash
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self.hasher.check_needs_rehash(stored):
            with self.db.write() as conn:
                conn.execute(
                    "UPDATE web_users SET password_hash = ? WHERE id = ?",
                    (self.hasher.hash(password), row["id"]),
                )
        return _user(row)

    # API tokens ------------------------------------------------------------------------

    def create_token(
        self, user_name: str, label: str, *, workspace_id: str = DEFAULT_WORKSPACE
    ) -> tuple[ApiToken, str]:
        """A new token for a user, acting in ``workspace_id``: its record and the secret
        (shown once, never stored)."""
        user = self.get(user_name)
        label = label.strip()
        if not label or len(label) > LABEL_MAX:
            raise InputError(
                "A token needs a label.",
                f"Name it after the script that uses it, in 1 to {LABEL_MAX} characters.",
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            if not conn.execute(
                "SELECT 1 FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user.id),
            ).fetchone():
                raise InputError(
                    f"{user.name!r} is not a member of that workspace: a token of theirs there "
                    "could see nothing.",
                    "Make the token in a workspace they belong to (--workspace), or invite "
                    "them first (flitch workspaces invite).",
                )
            token_id = int(
                conn.execute(
                    "INSERT INTO web_api_tokens (user_id, label, prefix, token_hash, created_at,"
                    " workspace_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (user.id, label, secret[:8], hash_token(secret), self.clock(), workspace_id),
                ).scalar()
            )
        return self._token(token_id), secret

    def list_tokens(
        self, user_id: int | None = None, *, workspace_id: str | None = None
    ) -> list[ApiToken]:
        """Every token, or one user's; of one workspace when ``workspace_id`` is given."""
        query = (
            "SELECT t.*, u.name AS user_name FROM web_api_tokens t "
            "JOIN web_users u ON u.id = t.user_id WHERE 1 = 1"
        )
        params: tuple[int | str, ...] = ()
        if user_id is not None:
            query += " AND t.user_id = ?"
            params = (user_id,)
        if workspace_id is not None:
            query += " AND t.workspace_id = ?"
            params = (*params, workspace_id)
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY t.id", params).fetchall()
        return [_token(row) for row in rows]

    def token_counts(self) -> dict[int, int]:
        """How many API tokens each user has, by user id (users without any left out)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT user_id, COUNT(*) FROM web_api_tokens GROUP BY user_id"
            ).fetchall()
        return {int(row[0]): int(row[1]) for row in rows}

    def _token(self, token_id: int) -> ApiToken:
        if not 0 < token_id < 2**63:
            raise NotFound(
                f"There is no API token with id {token_id}.",
                "List the tokens (`flitch tokens list`) to find its id.",
            )
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT t.*, u.name AS user_name FROM web_api_tokens t "
                "JOIN web_users u ON u.id = t.user_id WHERE t.id = ?",
                (token_id,),
            ).fetchone()
        if row is None:
            raise NotFound(
                f"There is no API token with id {token_id}.",
                "List the tokens (`flitch tokens list`) to find its id.",
            )
        return _token(row)

    def revoke_token(
        self, token_id: int, *, user_id: int | None = None, workspace_id: str | None = None
    ) -> None:
        """Delete a token; with ``user_id``, only if it belongs to that user; with
        ``workspace_id``, only if it acts there (else: not found, like one that never was)."""
        token = self._token(token_id)
        if (user_id is not None and token.user_id != user_id) or (
            workspace_id is not None and token.workspace_id != workspace_id
        ):
            raise NotFound(
                f"There is no API token with id {token_id}.",
                "List your tokens to find its id.",
            )
        with self.db.write() as conn:
            conn.execute("DELETE FROM web_api_tokens WHERE id = ?", (token_id,))

    def user_for_token(self, secret: str, *, address: str | None = None) -> User | None:
        """The user an API token acts as, or ``None`` for an unknown token; records the use
        (its time to the minute, and the client ``address`` when given)."""
        found = self.token_identity(secret, address=address)
        return None if found is None else found[0]

    def token_identity(
        self, secret: str, *, address: str | None = None
    ) -> tuple[User, str | None] | None:
        """The user an API token acts as and the workspace it acts in, or ``None`` for an
        unknown token; records the use like :meth:`user_for_token`."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT u.*, t.id AS token_id, t.last_used_at, t.last_used_from,"
                " t.workspace_id AS token_workspace "
                "FROM web_api_tokens t JOIN web_users u ON u.id = t.user_id "
                "WHERE t.token_hash = ?",
                (hash_token(secret),),
            ).fetchone()
            if row is None:
                return None
            now = self.clock()
            last = row["last_used_at"]
            where = address if address is not None else row["last_used_from"]
            if last is None or now - float(last) > TOUCH_EVERY or where != row["last_used_from"]:
                conn.execute(
                    "UPDATE web_api_tokens SET last_used_at = ?, last_used_from = ? WHERE id = ?",
                    (now, where, row["token_id"]),
                )
        workspace = row["token_workspace"]
        return _user(row), None if workspace is None else str(workspace)


def _revoke_tokens(conn: Tx, user_id: int) -> int:
    """Delete every API token of a user (inside the caller's transaction); how many there were."""
    return conn.execute("DELETE FROM web_api_tokens WHERE user_id = ?", (user_id,)).rowcount


def _user(row: Row) -> User:
    return User(
        id=int(row["id"]),
        name=str(row["name"]),
        role=Role(row["role"]),
        created_at=float(row["created_at"]),
    )


def _token(row: Row) -> ApiToken:
    return ApiToken(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        user_name=str(row["user_name"]),
        label=str(row["label"]),
        prefix=str(row["prefix"]),
        created_at=float(row["created_at"]),
        last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
        last_used_from=None if row["last_used_from"] is None else str(row["last_used_from"]),
        workspace_id=None if row["workspace_id"] is None else str(row["workspace_id"]),
    )
