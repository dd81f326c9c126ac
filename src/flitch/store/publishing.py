"""How a store publishes a version and how readers find and hold the current one.

Two layouts, one interface (``DuckDBStore`` takes either):

- :class:`InPlace` (the default, one machine): ``current.duckdb`` in the cache's folder; a
  refresh renames its finished file over it. A reader that opened the old file keeps reading it
  (the inode lives while it is open), so nothing has to be held.
- :class:`Versioned` (``FLITCH_CACHE_URL``): immutable ``v-<n>.duckdb`` files in the cache's
  folder on a shared location; the metadata database records which is current
  (:mod:`flitch.store.versions`). A refresh writes its file under a new number, then publishes
  it in one transaction that checks the version it started from is still current. A reader
  leases the version it opens; files older than the current one are removed once no lease
  holds them, by the writer after it publishes and by the last reader to let go.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flitch.errors import FlitchError
from flitch.metadb import DatabaseError
from flitch.store.files import (
    CURRENT,
    Generation,
    fsync_path,
    generation_of,
    remove_path,
    version_name,
    versions_in,
)
from flitch.store.versions import VersionBook

log = logging.getLogger(__name__)
#: Times a reader tries to hold the current version while new ones keep being published.
_TRIES = 5


class PublishConflict(FlitchError):
    """Another writer published a version of this cache while this refresh ran."""

    retriable = True

    def __init__(self) -> None:
        super().__init__(
            "Another refresh of this connection published its data while this one ran; this "
            "one's data was dropped and the other's kept.",
            "Run the refresh again if it is still needed; keep to one refresh of a "
            "connection at a time (flitch worker does).",
        )


@dataclass(frozen=True)
class Held:
    """A version a reader holds: its file, its generation, and how to let go of it (once)."""

    path: Path
    generation: Generation
    let_go: Callable[[], None]


@dataclass(frozen=True)
class Base:
    """The version a refresh starts from: its file (None: there is none) and its number."""

    path: Path | None
    version: int | None = None


class InPlace:
    """``current.duckdb``, replaced by a rename (single-machine installs)."""

    versioned = False

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    @property
    def current_path(self) -> Path:
        return self.cache_dir / CURRENT

    def generation(self) -> Generation | None:
        return generation_of(self.current_path)

    def base(self) -> Base:
        path = self.current_path
        return Base(path if path.exists() else None)

    def publish(self, staging: Path, base: Base) -> None:
        del base  # one writer at a time (the folder's lock); the rename replaces what is there
        current = self.current_path
        remove_path(current.with_name(current.name + ".wal"))
        os.replace(staging, current)
        fsync_path(self.cache_dir, directory=True)

    def hold(self) -> Held | None:
        generation = self.generation()
        if generation is None:
            return None
        return Held(self.current_path, generation, lambda: None)

    def prune(self) -> None:
        """Nothing to remove: the rename let go of the previous version."""

    def forget(self) -> None:
        """Nothing recorded outside the folder."""


class Versioned:
    """Immutable ``v-<n>.duckdb`` files, the current one recorded in ``book``."""

    versioned = True

    def __init__(self, cache_dir: Path, book: VersionBook) -> None:
        self.cache_dir = cache_dir
        self.book = book
        #: the cache's name in the book: its connection's id (unique across workspaces)
        self.key = cache_dir.name

    def path_of(self, version: int) -> Path:
        return self.cache_dir / version_name(version)

    @property
    def current_path(self) -> Path:
        """The current version's file (``v-0.duckdb``, which never exists, before the first)."""
        return self.path_of(self.book.current(self.key) or 0)

    def generation(self) -> Generation | None:
        version = self.book.current(self.key)
        return None if version is None else (version,)

    def base(self) -> Base:
        version = self.book.current(self.key)
        if version is None:
            return Base(None)
        path = self.path_of(version)
        return Base(path if path.exists() else None, version)

    def publish(self, staging: Path, base: Base) -> None:
        """Give the finished file its number, then record it as current if ``base`` still is
        (``PublishConflict`` otherwise: the file is removed, the record untouched)."""
        version = self.book.next_number(self.key)
        while self.path_of(version).exists():  # a record lost or moved: never reuse a name
            version = self.book.next_number(self.key)
        target = self.path_of(version)
        os.rename(staging, target)
        fsync_path(self.cache_dir, directory=True)
        try:
            published = self.book.publish(self.key, base.version, version)
        except BaseException:
            remove_path(target)
            raise
        if not published:
            remove_path(target)
            raise PublishConflict
        self.prune()

    def hold(self) -> Held | None:
        """Lease the current version for this process (None: nothing published). The number is
        read again once the lease is recorded: a version retired in between may be removed by
        a pruner that did not see the lease, so the reader moves on to the newer one."""
        for _ in range(_TRIES):
            version = self.book.current(self.key)
            if version is None:
                return None
            self.book.hold(self.key, version)
            if self.book.current(self.key) == version:
                return Held(self.path_of(version), (version,), self._once(version))
            self._let_go(version)
        raise FlitchError("The cache kept changing while it was opened.", "Try again in a moment.")

    def _once(self, version: int) -> Callable[[], None]:
        done: list[bool] = []

        def let_go() -> None:
            if not done:
                done.append(True)
                self._let_go(version)

        return let_go

    def _let_go(self, version: int) -> None:
        try:
            self.book.let_go(self.key, version)
            self.prune()
        except DatabaseError as exc:  # the lease expires by itself; the next pruner removes it
            log.warning("Could not give back a cache version: %s", exc)

    def prune(self) -> None:
        """Remove the files of versions older than the current one that no reader holds."""
        files = versions_in(self.cache_dir)
        if not files:
            return
        try:
            gone = self.book.removable(self.key, files)
        except DatabaseError as exc:
            log.warning("Could not look up which cache versions are in use: %s", exc)
            return
        for version in gone:
            path = files[version]
            with contextlib.suppress(OSError):
                remove_path(path.with_name(path.name + ".wal"))
                remove_path(path)

    def forget(self) -> None:
        self.book.forget(self.key)


Publishing = InPlace | Versioned
