"""The web app's tables in Flitch's metadata database (``flitch.db``, or PostgreSQL).

The users, their sessions, API tokens and failed sign-in attempts live beside the rest of
Flitch's metadata. Their tables start with ``web_`` and their migrations are the ``web`` part of
:mod:`flitch.metadb.schema`, recorded in their own table, ``web_schema_migrations``.

The stores take the :class:`~flitch.metadb.Database` the app opened for the install
(:func:`for_settings`), or a SQLite file's path as tests and older callers give it; each call
runs in one transaction of it, on a connection of its own, so the stores are safe to use from
the thread pool that serves requests.
"""

from __future__ import annotations

from pathlib import Path

from flitch.config import Settings
from flitch.metadb import Database, open_database
from flitch.metadb.dialect import SQLITE
from flitch.metadb.target import DB_FILE, Target, open_target

#: The file name of the SQLite metadata database inside ``FLITCH_HOME``.
DB_NAME = DB_FILE


def db_path(home: Path) -> Path:
    """Where the SQLite metadata database lives for a data directory."""
    return Path(home) / DB_NAME


def for_settings(settings: Settings) -> Database:
    """The metadata database these settings name (FLITCH_DATABASE_URL, or FLITCH_HOME's)."""
    return open_database(settings.home, settings.database_url)


def database(where: Database | Path) -> Database:
    """``where`` if it is a database already, else the SQLite file at that path, up to date."""
    if isinstance(where, Database):
        return where
    return open_target(Target(SQLITE, path=Path(where)))
