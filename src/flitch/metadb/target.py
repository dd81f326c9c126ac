"""Where the metadata lives: ``FLITCH_HOME/flitch.db``, or the server ``FLITCH_DATABASE_URL``
names; and the one function that opens it, up to date, for every part of Flitch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flitch.metadb import dialect
from flitch.metadb.database import Database, DatabaseError
from flitch.metadb.errors import MetadataError

DB_FILE = "flitch.db"
SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class Target:
    """A metadata database to open: a SQLite file, or a PostgreSQL URL."""

    engine: str
    path: Path | None = None
    url: str = ""

    @classmethod
    def of(cls, home: Path, url: str | None = None) -> Target:
        """The SQLite file of ``home``, unless ``url`` (FLITCH_DATABASE_URL) names a server."""
        if not url:
            return cls(dialect.SQLITE, path=Path(home) / DB_FILE)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in SCHEMES:
            raise MetadataError(
                f"FLITCH_DATABASE_URL={redact(url)!r} is not a PostgreSQL URL.",
                "Write it as postgresql://USER:PASSWORD@HOST:5432/DATABASE, or unset it to keep "
                "the metadata in FLITCH_HOME/flitch.db.",
            )
        return cls(dialect.POSTGRES, url=url)

    @property
    def where(self) -> str:
        """How messages name it: the file, or the URL with its password hidden."""
        return str(self.path) if self.engine == dialect.SQLITE else redact(self.url)


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def connect(target: Target) -> Database:
    """The database at ``target`` as it is (nothing created but an empty SQLite file)."""
    try:
        if target.engine == dialect.SQLITE:
            assert target.path is not None
            return Database.sqlite(target.path)
        try:
            import psycopg  # noqa: F401
        except ImportError:  # pragma: no cover (a dependency of Flitch)
            raise MetadataError(
                "FLITCH_DATABASE_URL names a PostgreSQL server, but psycopg is not installed.",
                "Install it beside Flitch: pip install 'psycopg[binary]'.",
            ) from None
        return Database.postgres(target.url, target.where)
    except (OSError, DatabaseError) as exc:
        raise unreachable(target, exc) from None


def open_database(home: Path, url: str | None = None) -> Database:
    """The metadata database of this install, every part's tables up to date."""
    return open_target(Target.of(home, url))


def open_target(target: Target) -> Database:
    """The database at ``target``, every part's tables up to date."""
    from flitch.metadb.upgrade import upgrade

    db = connect(target)
    try:
        upgrade(db)
    except DatabaseError as exc:
        db.close()
        raise unreachable(target, exc) from None
    except BaseException:
        db.close()
        raise
    return db


def unreachable(target: Target, exc: BaseException) -> MetadataError:
    """The error for a metadata database that cannot be opened, read or written."""
    detail = getattr(exc, "strerror", None) or str(exc)
    if target.engine == dialect.POSTGRES:
        return MetadataError(
            f"The metadata database {target.where} cannot be used ({detail}).",
            "Check FLITCH_DATABASE_URL (host, port, user, password, database) and that the "
            "PostgreSQL server is running and lets this user create tables; "
            "`flitch db check` tries it.",
        )
    if "locked" in detail:
        return MetadataError(
            f"The metadata database {target.where} stayed locked by another Flitch process "
            f"({detail}).",
            "Try again in a moment; if it persists, stop the other `flitch` processes.",
        )
    return MetadataError(
        f"The metadata database {target.where} cannot be used ({detail}).",
        "Check that FLITCH_HOME is a directory you can write on a disk with free space, or "
        "restore flitch.db from your backup.",
    )
