"""The metadata seam: every table Flitch keeps outside its cache, on SQLite or PostgreSQL.

SQLite (``FLITCH_HOME/flitch.db``) is the default and needs nothing else; PostgreSQL holds the
same tables when ``FLITCH_DATABASE_URL=postgresql://…`` is set, so that several processes on
several machines share one state (server mode). Both run one schema and one list of forward
migrations (:mod:`flitch.metadb.schema`), and every metadata query goes through
:class:`~flitch.metadb.database.Database`.

Why psycopg 3 under a thin seam of our own rather than SQLAlchemy Core and Alembic:

- Flitch's metadata SQL is a few dozen hand-written statements, already tested, and almost all
  of it is the SQL both engines speak (``ON CONFLICT … DO UPDATE``, ``RETURNING``, partial
  indexes, ``CASE``). What differs is small and namable: placeholders (``?`` and ``%s``), four
  column types, case-insensitive names, the ``rowid`` a few queries order by, and how a writer
  takes the lock. That fits in :mod:`~flitch.metadb.dialect`; an expression language would
  rewrite every statement to gain nothing the tests can see.
- What server mode needs next is PostgreSQL itself: ``FOR UPDATE SKIP LOCKED`` leases and
  advisory locks for the work queue and the one scheduler. Those are written as SQL in any case.
- Alembic's migrations are Python scripts in a revision graph, meant for schemas that branch and
  go back down; ours only go forward, one list, each step recorded in a version table, which is
  what SQLite installs already have on disk (their files stay as they are).
- One small dependency (psycopg with its bundled libpq) instead of two large ones, typed, and
  the driver the PostgreSQL project's Python users mostly pick; SQLite stays the standard
  library's module.
"""

from flitch.metadb.database import Database, DatabaseError, IntegrityError, Row, Tx
from flitch.metadb.errors import MetadataError
from flitch.metadb.target import Target, open_database

__all__ = [
    "Database",
    "DatabaseError",
    "IntegrityError",
    "MetadataError",
    "Row",
    "Target",
    "Tx",
    "open_database",
]
