"""Live reads shared between the processes of one ``FLITCH_HOME`` (server mode's replicas).

Within one process, identical reads in flight are one fetch (:mod:`flitch.query.live`). Across
processes, the first to start a read takes its *lease*: an exclusive ``flock`` on a lock file
named after the connection and the read, under ``FLITCH_HOME/live`` (0700). While it holds the
lease it appends each page it reads to a *spool* file beside it (0600). Another process that
wants the same read finds the lease taken and *follows* the spool — every page from the first,
then each one as it is written — instead of asking Stripe.

The spool is a series of frames, each a kind byte, a 4-byte length and an orjson payload: ``H``
(the lease's token, also written into the lock file, so a follower never reads a spool left by
an earlier lease), ``P`` (a page: ids, created times, each object's JSON text), ``D`` (the read
is complete) or ``X`` (the reader stopped: cancelled, or failed). A lease is released when its
read ends, or by the operating system when its process dies; its files are removed then. A
follower whose leader stops or dies without ``D`` reads the list itself (the objects it already
has are not added twice): sharing saves requests, it never decides an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from flitch.private import PRIVATE_FILE, private_dir
from flitch.stripe_source.pages import ListPage

_HEAD = struct.Struct(">cI")
#: How often a follower looks for new pages, and how long it waits for a spool to appear.
POLL_SECONDS = 0.05
APPEAR_SECONDS = 2.0


def spool_key(connection_id: str, read: Any) -> str:
    """The file name of a read's lease and spool: the connection and the read, hashed."""
    return hashlib.sha256(f"{connection_id}\n{read!r}".encode()).hexdigest()[:40]


class Lease:
    """The right to read one list for every process, and the spool its pages go to."""

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
        self._frame(b"H", {"token": self.token})

    def _frame(self, kind: bytes, payload: Any) -> None:
        if self._fd is None:
            return
        data = orjson.dumps(payload)
        os.write(self._fd, _HEAD.pack(kind, len(data)) + data)

    def page(self, page: ListPage) -> None:
        raw = [r.decode() for r in page.raw_json()]
        self._frame(b"P", {"ids": page.ids, "created": page.created, "raw": raw})

    def end(self, *, complete: bool) -> None:
        """Write the last frame, remove the spool (followers keep what they opened) and
        release the lease."""
        try:
            self._frame(b"D" if complete else b"X", {})
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
    """The leases and spools of live reads under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = private_dir(folder)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.lock", self.folder / f"{key}.spool"

    def take(self, key: str) -> Lease | None:
        """The read's lease, or None when another reader holds it."""
        lock, spool = self._paths(key)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            return Lease(fd, lock, spool)
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

    async def follow(self, key: str, on_page: Callable[[ListPage], None]) -> bool:
        """Hand each page of the other process's read to ``on_page``, from the first; True
        once it completed, False when there was no read to follow or it stopped first."""
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
            return await _tail(file, token, lambda: self._holder(key) == token, on_page)


async def _tail(
    file: Any, token: str, alive: Callable[[], bool], on_page: Callable[[ListPage], None]
) -> bool:
    buffer = b""
    first = True
    while True:
        chunk = file.read()
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
                    return False  # an earlier lease's spool
            elif kind == b"P":
                raw = [r.encode() for r in payload["raw"]]
                on_page(ListPage(raw, payload["ids"], payload["created"], has_more=True))
            elif kind == b"D":
                return True
            elif kind == b"X":
                return False
        if not chunk:
            if not alive():
                # the last frames may have landed just before the lease went
                rest = file.read()
                if not rest:
                    return False
                buffer += rest
                continue
            await asyncio.sleep(POLL_SECONDS)
