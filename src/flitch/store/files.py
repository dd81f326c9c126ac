"""The files of one connection's cache directory, and the writer lock.

::

    current.duckdb               the published version; readers open it read-only
    writer.lock                  flock()ed by the one refresh allowed at a time
    staging-<pid>-<tok>.duckdb   the version a refresh is building (never read by readers)
    staging-<pid>-<tok>.tmp/     DuckDB's spill directory for that refresh
    v-<n>.duckdb                 with FLITCH_CACHE_URL, in place of current.duckdb: the
                                 immutable versions, the current one recorded in the metadata
                                 database (``flitch.store.versions``)

Anything named ``staging-*`` belongs to a writer; the next writer (holding the lock) deletes
what a crashed one left. The folder is 0700 and its files 0600 (``flitch.private``): what
DuckDB creates itself (the staging file, its write-ahead log, spill files) is made private as
soon as Flitch sees it, and cannot be reached through the folder meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
from pathlib import Path

from flitch.private import PRIVATE_FILE, private_dir
from flitch.store.base import RefreshRunning

CURRENT = "current.duckdb"
LOCK = "writer.lock"
STAGING_PREFIX = "staging-"
VERSION_PREFIX = "v-"
VERSION_SUFFIX = ".duckdb"
_SHRED_CHUNK = 1 << 20
#: Generation of the published version: changes whenever a commit publishes one (a file's
#: device, inode, mtime and size; a shared cache's version number).
Generation = tuple[int, ...]


def version_name(number: int) -> str:
    """The file name of a shared cache's version ``number``."""
    return f"{VERSION_PREFIX}{number}{VERSION_SUFFIX}"


def versions_in(cache_dir: Path) -> dict[int, Path]:
    """The version files of a shared cache's folder, by number."""
    found: dict[int, Path] = {}
    if not cache_dir.is_dir():
        return found
    for path in cache_dir.glob(f"{VERSION_PREFIX}*{VERSION_SUFFIX}"):
        number = path.name[len(VERSION_PREFIX) : -len(VERSION_SUFFIX)]
        if number.isdigit():
            found[int(number)] = path
    return found


def generation_of(path: Path) -> Generation | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def shred(path: Path) -> None:
    """Overwrite a file's bytes with zeros, flush them to disk, then unlink it (a folder: each
    file in it, then the folder).

    A process that still has the file open (another ``flitch``, a tool) then reads zeros
    instead of the data. On a filesystem that writes new blocks instead of overwriting (btrfs,
    ZFS, snapshots, an SSD's own remapping) the old blocks may survive on the device: that is
    beyond what a program can reach, hence "where the filesystem allows"."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        for child in path.iterdir():
            shred(child)
        with contextlib.suppress(OSError):
            path.rmdir()
        return
    if stat.S_ISREG(info.st_mode) and info.st_size:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                zeros = bytes(_SHRED_CHUNK)
                left = info.st_size
                while left > 0:
                    left -= os.write(fd, zeros[: min(left, _SHRED_CHUNK)])
                os.fsync(fd)
            finally:
                os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class WriterLock:
    """An exclusive, non-blocking ``flock`` on ``writer.lock`` (per open file, so it also
    excludes a second writer in the same process)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.cache_dir)
        fd = os.open(self.cache_dir / LOCK, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RefreshRunning(self.cache_dir) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
