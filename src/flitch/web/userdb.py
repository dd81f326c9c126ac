"""The web app's tables in Flitch's metadata database (``FLITCH_HOME/flitch.db``).

The users, their sessions, API tokens and failed sign-in attempts live in the same SQLite file as
the rest of Flitch's metadata. Their migrations are numbered here and recorded in their own table,
``web_schema_migrations``, so they never collide with the migrations other parts of Flitch keep
for their own tables in the same file. Every table this module creates starts with ``web_``.

Each call opens its own short-lived connection (``connect``): SQLite connections are cheap, and
this keeps the stores safe to use from the thread pool that serves requests.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

#: The file name of the metadata database inside ``FLITCH_HOME``.
DB_NAME = "flitch.db"

#: Ordered schema changes; the index + 1 is the version. Append, never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE web_users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    CREATE TABLE web_api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        prefix TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE TABLE web_signin_failures (
        subject TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX web_signin_failures_subject ON web_signin_failures(subject, at);
    """,
    # 2: where each API token was last used from (its last use is shown with its time).
    """
    ALTER TABLE web_api_tokens ADD COLUMN last_used_from TEXT;
    """,
    # 3: the one-time code first-run setup asks for (one row, while no account exists).
    """
    CREATE TABLE web_setup_code (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        code TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)


def db_path(home: Path) -> Path:
    """Where the metadata database lives for a data directory."""
    return Path(home) / DB_NAME


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in a transaction: committed when the block ends, rolled back on error."""
    conn = sqlite3.connect(path, timeout=15.0, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 15000")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def migrate(path: Path) -> int:
    """Create or bring the web tables up to date; returns the schema version now in force."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Private to its owner from the start: it holds password hashes.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, timeout=15.0, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    with connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS web_schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM web_schema_migrations").fetchone()
        current = int(row[0])
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO web_schema_migrations (version) VALUES (?)", (version,))
            current = version
    return current
