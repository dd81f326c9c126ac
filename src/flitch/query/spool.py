"""Live reads shared between processes: the spool format, and the leases of one ``FLITCH_HOME``.

Within one process, identical reads in flight are one fetch (:mod:`flitch.query.live`). Across
processes, the first to start a read takes its *lease*; while it holds it, it appends each page
it reads to a *spool* file. Another process that wants the same read finds the lease taken and
*follows* the spool — every page from the first, then each one as it is written — instead of
asking Stripe.

Where leases and spools live is a backend behind one interface (:class:`SharedReads`: ``take``
and ``follow``; :class:`Lease`: ``page`` and ``end``), picked by the live fetcher:

- :class:`Spools` (here), the replicas of one ``FLITCH_HOME``: the lease is an exclusive
  ``flock`` on a lock file named after the connection and the read, under ``FLITCH_HOME/live``
  (0700), released by the operating system when its process dies; the spool is beside it
  (0600).
- :class:`flitch.query.shared_spools.FolderSpools`, replicas on several machines: the lease is a
  row in the metadata database and the spool is in the folder ``FLITCH_CACHE_URL`` names.

The spool is a series of frames, each a kind byte, a 4-byte length and an orjson payload: ``H``
(the lease's token, so a follower never reads a spool left by another lease), ``P`` (a page:
ids, created times, each object's JSON text), ``D`` (the read is complete) or ``X`` (the reader
stopped: cancelled, or failed). A follower whose leader stops or dies without ``D`` reads the
list itself (the objects it already has are not added twice): sharing saves requests, it never
decides an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from flitch.private import PRIVATE_FILE, private_dir
from flitch.stripe_source.pages import ListPage

_HEAD = struct.Struct(">cI")
#: How often a follower looks for new pages, and how long it waits for a spool to appear.
POLL_SECONDS = 0.05
APPEAR_SECONDS = 2.0

PageSink = Callable[[ListPage], None]


def spool_key(connection_id: str, read: Any) -> str:
    """The name of a read's lease and spool: the connection and the read, hashed."""
    return hashlib.sha256(f"{connection_id}\n{read!r}".encode()).hexdigest()[:40]


def frame(kind: bytes, payload: Any) -> bytes:
    """One frame of a spool."""
    data = orjson.dumps(payload)
    return _HEAD.pack(kind, len(data)) + data


def page_frame(page: ListPage) -> bytes:
    raw = [r.decode() for r in page.raw_json()]
    return frame(b"P", {"ids": page.ids, "created": page.created, "raw": raw})


def head_frame(token: str) -> bytes:
    return frame(b"H", {"token": token})


def end_frame(*, complete: bool) -> bytes:
    return frame(b"D" if complete else b"X", {})


class Lease:
    """The right to read one list for every process, and the spool its pages go to. This base
    shares nothing (a read made alone)."""

    def page(self, page: ListPage) -> None:
        """A page read: into the spool for the followers."""

    def end(self, *, complete: bool) -> None:
        """The read ended (``complete``: with its last page): last frame, lease released."""


class SharedReads(Protocol):
    """Where live reads are shared between processes (a lease backend)."""

    async def take(self, key: str) -> Lease | None:
        """The read's lease, or None when another process holds it."""

    async def follow(self, key: str, on_page: PageSink) -> bool:
        """Hand each page of the other process's read to ``on_page``, from the first; True once
        it completed, False when there was no read to follow or it stopped first."""


class LockLease(Lease):
    """A lease of :class:`Spools`: the ``flock`` held on the read's lock file."""

    def __init__(self, lock_fd: int, lock: Path, spool: Path) -> None:
        self._lock_fd = lock_fd
        self._lock = lock
        self._spool = spool
        self.token = secrets.token_hex(16)
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, self.token.encode(), 0)
        with contextlib.suppress(FileNotFoundError):
            spool.unlink()  # an earlier lease's, left by a process that died
        self._fd: int | None = os.open(
            spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, PRIVATE_FILE
        )
        self._write(head_frame(self.token))

    def _write(self, data: bytes) -> None:
        if self._fd is not None:
            os.write(self._fd, data)

    def page(self, page: ListPage) -> None:
        self._write(page_frame(page))

    def end(self, *, complete: bool) -> None:
        """Write the last frame, remove the spool (followers keep what they opened) and
        release the lease."""
        try:
            self._write(end_frame(complete=complete))
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            with contextlib.suppress(FileNotFoundError):
                self._spool.unlink()
            # no lock file is left behind per read (a reader that opened this one meanwhile
            # reads on its own: a request more, never a wrong page, as tokens are checked)
            with contextlib.suppress(FileNotFoundError):
                self._lock.unlink()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)


class Spools:
    """The leases and spools of live reads under one folder of one machine (``flock``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_dir(folder)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.lock", self.folder / f"{key}.spool"

    async def take(self, key: str) -> Lease | None:
        lock, spool = self._paths(key)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            return LockLease(fd, lock, spool)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise

    def _holder(self, key: str) -> str | None:
        """The token of the lease someone holds on the read, or None when nobody does."""
        lock, _ = self._paths(key)
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.pread(fd, 64, 0).decode(errors="replace")
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    async def follow(self, key: str, on_page: PageSink) -> bool:
        token = self._holder(key)
        if token is None:
            return False
        _, spool = self._paths(key)
        file = None
        waited = 0.0
        while file is None:
            with contextlib.suppress(FileNotFoundError):
                file = spool.open("rb")
            if file is None:
                if waited >= APPEAR_SECONDS or self._holder(key) != token:
                    return False
                await asyncio.sleep(POLL_SECONDS)
                waited += POLL_SECONDS
        with file:

            async def more() -> bytes:
                data: bytes = file.read()
                return data

            async def alive() -> bool:
                return self._holder(key) == token

            return await tail(more, token, alive, on_page)


async def tail(
    more: Callable[[], Awaitable[bytes]],
    token: str,
    alive: Callable[[], Awaitable[bool]],
    on_page: PageSink,
) -> bool:
    """Follow a spool: ``more`` gives the bytes written since it last did, ``alive`` whether
    the lease of ``token`` still holds. True once the read completed (``D``), False when it
    stopped (``X``), the spool is another lease's, or the lease ended without the last page."""
    buffer = b""
    first = True
    while True:
        chunk = await more()
        buffer += chunk
        while len(buffer) >= _HEAD.size:
            kind, size = _HEAD.unpack_from(buffer)
            if len(buffer) < _HEAD.size + size:
                break
            payload = orjson.loads(buffer[_HEAD.size : _HEAD.size + size])
            buffer = buffer[_HEAD.size + size :]
            if first:
                first = False
                if kind != b"H" or payload.get("token") != token:
                    return False  # another lease's spool
            elif kind == b"P":
                raw = [r.encode() for r in payload["raw"]]
                on_page(ListPage(raw, payload["ids"], payload["created"], has_more=True))
            elif kind == b"D":
                return True
            elif kind == b"X":
                return False
        if not chunk:
            if not await alive():
                # the last frames may have landed just before the lease went
                rest = await more()
                if not rest:
                    return False
                buffer += rest
                continue
            await asyncio.sleep(POLL_SECONDS)
