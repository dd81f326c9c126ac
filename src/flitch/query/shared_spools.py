"""Live reads shared by replicas on several machines: leases in the database, spools in the folder
``FLITCH_CACHE_URL`` names (the one folder every process of such an install mounts).

:class:`FolderSpools` is the lease backend of :mod:`flitch.query.spool` for that layout. The
leader of a read holds its lease as a row of ``live_read_leases`` (:mod:`flitch.query.read_leases`)
and appends its pages to ``<shared>/live/<read>.<token>.spool`` (folder 0700, file 0600);
followers, on any machine, find the token in the database and read that file.

Why not ``flock`` as on one machine: a lock on a shared folder is only as good as the
filesystem's (Linux NFS clients pass ``flock`` to the server, other filesystems and the
``local_lock`` mount option keep it on one machine), and a machine that dies holds an NFS lock
until the server gives up on it. A row with an expiry says who reads, wherever the database
reaches, and a dead leader's is taken over as soon as it expires (``read_leases.LEASE_SECONDS``).

How the spool is made for a shared filesystem (NFS's close-to-open consistency: a client sees
another's writes once they were flushed, and only after it opens the file again, its cached size
and pages being trusted for seconds otherwise):

- **One file per lease**, named by its token: there is never a second writer of a file, nor a
  leader that replaces a file another machine has open (a follower reading a file deleted by
  another client gets ``ESTALE``).
- **The file exists before the lease does**: the would-be leader writes the ``H`` frame and
  flushes it, then takes the lease; if another holds it, it deletes its file. So a follower that
  sees a token in the database finds its file (its client never looked that name up before, so
  no cached "no such file" answer stands in the way).
- **Every write is flushed** (``fdatasync``) so the server has it; writes, flushes, the lease's
  renewal every third of its length and the release at the end run on one thread per process,
  off the event loop, which only encodes pages. The release comes after the last frame is
  flushed, so a follower that sees the lease gone has every frame within reach.
- **A follower opens the file again for each look** (every 50 ms; from the offset it reached),
  which makes its client check the file's size with the server, instead of reading an open file
  whose cached size may lag by seconds. It asks the database whether the lease still holds at
  most twice a second, and only while the file does not grow.
- **Removal**: the leader removes its spool a few seconds after the read ended (followers have
  read the last frame by then; one that has not reads on its own). Spools whose lease has ended
  or expired and whose file has not changed for a lease's length — a leader that died — are
  removed by the next process that takes a lease, with expired rows.

Sharing saves requests; it never decides an answer: a database that cannot be reached, a write
that fails, a lease taken over or a spool that never appears (a ``FLITCH_CACHE_URL`` that is not
in fact shared) each end in a read made alone, and the objects already followed are not added
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flitch.metadb import Database, DatabaseError
from flitch.private import PRIVATE_FILE, private_dir
from flitch.query.read_leases import ReadLeases
from flitch.query.spool import (
    APPEAR_SECONDS,
    POLL_SECONDS,
    Lease,
    PageSink,
    end_frame,
    head_frame,
    page_frame,
    tail,
)
from flitch.stripe_source.pages import ListPage

log = logging.getLogger(__name__)

#: How long a follower trusts that the lease it follows still holds, while the spool is still.
ALIVE_SECONDS = 0.5
#: How long a spool stays after its read ended (its followers read the last frame meanwhile).
KEEP_SECONDS = 5.0
SUFFIX = ".spool"


class FolderSpools:
    """Leases in the metadata database, spools in a shared folder (see the module docstring)."""

    def __init__(self, db: Database, folder: Path, *, lease_seconds: float | None = None) -> None:
        self.leases = ReadLeases(db, lease_seconds=lease_seconds)
        self.folder = private_dir(folder)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._writer = _Writer(self.leases)
        #: reads whose leader's spool never appeared here: the next take reads alone
        self._alone: set[str] = set()
        self._swept_at = float("-inf")

    def path(self, key: str, token: str) -> Path:
        return self.folder / f"{key}.{token}{SUFFIX}"

    # -- leading ---------------------------------------------------------------------------
    async def take(self, key: str) -> Lease | None:
        if key in self._alone:
            self._alone.discard(key)
            return Lease()  # read alone: nothing shared
        try:
            return await asyncio.to_thread(self._take, key, secrets.token_hex(16))
        except (DatabaseError, OSError) as exc:
            log.warning("Live reads are not shared for now (%s): reading alone.", exc)
            return Lease()

    def _take(self, key: str, token: str) -> Lease | None:
        path = self.path(key, token)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, PRIVATE_FILE)
        won = False
        try:
            os.write(fd, head_frame(token))
            os.fdatasync(fd)  # on the server before anyone can learn its name
            won = self.leases.take(key, token, self.holder)
        finally:
            if not won:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if not won:
            return None
        lease = FolderLease(self._writer, key, token, fd, path)
        self._writer.open(lease)
        try:
            self._sweep()
        except (DatabaseError, OSError) as exc:  # tidying only: the next take tries again
            log.warning("Could not remove the spools of ended live reads: %s", exc)
        return lease

    def _sweep(self) -> None:
        """Remove expired leases, and the spools no live lease holds that have not changed for
        a lease's length (a leader that died); at most once a lease's length per process."""
        now = time.monotonic()
        if now - self._swept_at < self.leases.lease_seconds:
            return
        self._swept_at = now
        live = self.leases.sweep()
        quiet = time.time() - self.leases.lease_seconds
        for path in self.folder.glob(f"*{SUFFIX}"):
            key, _, token = path.name[: -len(SUFFIX)].partition(".")
            if (key, token) in live:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < quiet:
                    path.unlink()

    # -- following -------------------------------------------------------------------------
    async def follow(self, key: str, on_page: PageSink) -> bool:
        try:
            token = await asyncio.to_thread(self.leases.holder, key)
        except DatabaseError as exc:
            log.warning("Live reads are not shared for now (%s): reading alone.", exc)
            return False
        if token is None:
            return False
        reader = _Reopening(self.path(key, token))
        checked = time.monotonic()

        async def alive() -> bool:
            nonlocal checked
            if time.monotonic() - checked < ALIVE_SECONDS:
                return True
            checked = time.monotonic()
            try:
                return await asyncio.to_thread(self.leases.held, key, token)
            except DatabaseError:
                return False

        waited = 0.0
        while not await asyncio.to_thread(reader.exists):
            if waited >= APPEAR_SECONDS or not await alive():
                if waited >= APPEAR_SECONDS:
                    log.warning(
                        "A live read's spool did not appear in %s: is FLITCH_CACHE_URL the "
                        "same shared folder for every replica? Reading alone.",
                        self.folder,
                    )
                    self._alone.add(key)
                return False
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

        async def more() -> bytes:
            return await asyncio.to_thread(reader.read)

        return await tail(more, token, alive, on_page)


class _Reopening:
    """A spool read from where the last look stopped, opening the file again each time: what
    makes an NFS client ask the server for its new size (close-to-open consistency)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def exists(self) -> bool:
        try:
            os.close(os.open(self.path, os.O_RDONLY))
        except FileNotFoundError:
            return False
        return True

    def read(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""  # removed after its read ended: what was read is all there is
        try:
            chunks = []
            while True:
                chunk = os.pread(fd, 1 << 20, self.offset)
                if not chunk:
                    break
                chunks.append(chunk)
                self.offset += len(chunk)
        except OSError:  # ESTALE and the like: the file went on another machine
            return b"".join(chunks)
        finally:
            os.close(fd)
        return b"".join(chunks)


@dataclass(eq=False)
class FolderLease(Lease):
    """A lease of :class:`FolderSpools`: its row's token, and the spool it writes."""

    writer: _Writer
    key: str
    token: str
    fd: int | None
    path: Path
    #: set by the writer's thread: the lease was lost or the spool failed; pages go nowhere
    stopped: bool = False
    ended: bool = field(default=False)

    def page(self, page: ListPage) -> None:
        if not self.stopped and not self.ended:
            self.writer.put(self, page_frame(page), last=False)

    def end(self, *, complete: bool) -> None:
        if self.ended:
            return
        self.ended = True
        self.writer.put(self, end_frame(complete=complete), last=True)

    # -- on the writer's thread --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, data)
        except OSError as exc:
            log.warning("A live read's spool could not be written (%s): shared no more.", exc)
            self.close(remove=True)

    def flush(self) -> None:
        if self.fd is None:
            return
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            log.warning("A live read's spool could not be written (%s): shared no more.", exc)
            self.close(remove=True)

    def close(self, *, remove: bool) -> None:
        self.stopped = True
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()


class _Writer:
    """The thread that writes and flushes the spools of this process's leases, renews the
    leases, releases them after the last frame and removes their spools a while later. It
    runs while there is something to do and is started again when needed."""

    def __init__(self, leases: ReadLeases) -> None:
        self.leases = leases
        self._queue: queue.SimpleQueue[tuple[FolderLease, bytes, bool]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._open: dict[str, FolderLease] = {}
        #: (monotonic time due, spool) to remove
        self._removals: list[tuple[float, Path]] = []

    def open(self, lease: FolderLease) -> None:
        with self._lock:
            self._open[lease.token] = lease
            self._start()

    def put(self, lease: FolderLease, data: bytes, *, last: bool) -> None:
        with self._lock:
            self._queue.put((lease, data, last))
            self._start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="flitch-live-spools", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        every = self.leases.lease_seconds / 3
        renew_at = time.monotonic() + every
        while True:
            with self._lock:
                if not self._open and not self._removals and self._queue.empty():
                    self._thread = None
                    return
                due = min([renew_at] + [at for at, _ in self._removals])
            batch: list[tuple[FolderLease, bytes, bool]] = []
            with contextlib.suppress(queue.Empty):
                batch.append(self._queue.get(timeout=max(due - time.monotonic(), 0.0)))
                while True:
                    batch.append(self._queue.get_nowait())
            self._handle(batch)
            if time.monotonic() >= renew_at:
                self._renew()
                renew_at = time.monotonic() + every
            self._remove_due()

    def _handle(self, batch: list[tuple[FolderLease, bytes, bool]]) -> None:
        touched: dict[str, FolderLease] = {}
        ended: list[FolderLease] = []
        for lease, data, last in batch:
            lease.write(data)
            touched[lease.token] = lease
            if last:
                ended.append(lease)
        for lease in touched.values():
            lease.flush()  # the frames reach the server before anyone is told the read ended
        for lease in ended:
            with self._lock:
                self._open.pop(lease.token, None)
            kept = lease.fd is not None
            lease.close(remove=False)
            try:
                self.leases.release(lease.key, lease.token)
            except DatabaseError as exc:  # it expires on its own
                log.warning("Could not release a live read's lease: %s", exc)
            if kept:
                with self._lock:
                    self._removals.append((time.monotonic() + KEEP_SECONDS, lease.path))

    def _renew(self) -> None:
        with self._lock:
            held = list(self._open.values())
        if not held:
            return
        try:
            kept = self.leases.renew((lease.key, lease.token) for lease in held)
        except DatabaseError as exc:  # try again at the next turn; a lapse hands the read on
            log.warning("Could not renew the live reads' leases: %s", exc)
            return
        for lease in held:
            if (lease.key, lease.token) not in kept and not lease.ended:
                # taken over after a lapse: the new leader spools it; this read goes on alone
                lease.close(remove=True)
                with self._lock:
                    self._open.pop(lease.token, None)

    def _remove_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [path for at, path in self._removals if at <= now]
            self._removals = [(at, path) for at, path in self._removals if at > now]
        for path in due:
            with contextlib.suppress(OSError):
                path.unlink()
