"""Memory and disk for the store's heavy work, and what a refresh says when it runs out of either.

**Memory.** Every DuckDB connection that writes (a refresh's staging file, verify's scratch file)
gets ``FLITCH_MEMORY_LIMIT`` bytes (``memory_limit_bytes``; unset: a quarter of the machine's
memory, the container's if it has a limit, at least 256 MiB) and a spill folder of its own in
the connection's cache folder (private, like every folder Flitch makes): sorts, joins and aggregates
beyond the limit go to disk there, so the memory a refresh takes is set by this setting, not
by the size of the account. DuckDB gets a thread per ``MEMORY_PER_THREAD`` of it (at most one
per core): each thread of a spilling operator needs a share of its own, and a small limit split
over many threads fails where one thread would have spilled.

What cannot spill is kept out of the write path: the datasets carry no index (see
``loading``; DuckDB's ART index lives in memory whole while it is built, the failure of a
7.5 M-invoice account at 256 MB).

**Disk.** A refresh writes the next version beside the current one, so it needs about as much
free space as the current file takes, and an incremental one needs it at once (its first step
copies the file). Running out is reported (``DiskFull``) with the folder and its free space;
the staging files are deleted and the current version is left as it was.

Either failure is a ``FlitchError`` (``explain`` turns DuckDB's and the OS's errors into one),
so the refresh runner records it like any other failure and keeps the previous data.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import duckdb

from flitch.config import MemorySize
from flitch.errors import FlitchError

MEMORY_SETTING = "FLITCH_MEMORY_LIMIT"
#: Unset, the setting is this share of the machine's memory…
DEFAULT_SHARE = 0.25
#: … and at least this much (the limit every refresh had before the setting).
DEFAULT_FLOOR = 256 * 1024**2
#: A DuckDB thread per this much of the limit (DuckDB's advice for operators that spill).
MEMORY_PER_THREAD = 128 * 1024**2
#: What DuckDB may keep of what it cached once a refresh has checkpointed (``release_cache``).
CACHE_KEPT = 64 * 1024**2
#: cgroup v2's limit of this process's container, if it has one.
CGROUP = Path("/sys/fs/cgroup")


def machine_memory(cgroup: Path = CGROUP) -> int:
    """Bytes of memory this process may use: the machine's, or its container's limit if less."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = (cgroup / "memory.max").read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def default_memory_limit(machine: int | None = None) -> int:
    """A quarter of the machine's memory, at least 256 MiB: room for the web app, the
    dashboards' queries and a refresh of another connection beside this one."""
    total = machine_memory() if machine is None else machine
    return max(DEFAULT_FLOOR, int(total * DEFAULT_SHARE))


def memory_limit_bytes(setting: str | int | None, machine: int | None = None) -> int:
    """The memory limit in bytes: the setting's value (a size, a share, or bytes) or the
    default."""
    if setting is None:
        return default_memory_limit(machine)
    if isinstance(setting, int):
        return setting
    return MemorySize(setting).bytes(machine_memory() if machine is None else machine)


def release_cache(con: duckdb.DuckDBPyConnection, limit: int) -> None:
    """Make DuckDB let go of the table blocks it keeps cached, down to ``CACHE_KEPT``.

    DuckDB keeps every block it writes or reads cached up to its memory limit, and a refresh
    reads few of them back: left alone, it would hold as much of the new file as the limit
    allows, and a refresh's memory would grow with the account (1.89× for 9.3× the records,
    with 6 GiB). DuckDB has no call to empty its cache, but lowering its limit makes it evict
    what is not in use down to the new one; the limit is then set back. What is in use stays
    (DuckDB refuses the lower limit, having evicted what it could)."""
    try:
        con.execute(f"SET memory_limit = '{min(limit, CACHE_KEPT)}B'")
    except duckdb.OutOfMemoryException:
        pass
    finally:
        con.execute(f"SET memory_limit = '{limit}B'")


def threads_for(limit: int, cores: int | None = None) -> int:
    """DuckDB threads for a memory limit: one per ``MEMORY_PER_THREAD``, between one and the
    number of cores."""
    most = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(most, limit // MEMORY_PER_THREAD))


def duckdb_config(limit: int, spill: Path) -> dict[str, str | bool | int | float | list[str]]:
    """The configuration of a DuckDB connection that writes: the limit, its threads, and the
    folder it spills to."""
    return {
        "memory_limit": f"{limit}B",
        "threads": threads_for(limit),
        "temp_directory": str(spill),
    }


def size_text(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class OutOfMemory(FlitchError):
    """A refresh needed more memory than ``FLITCH_MEMORY_LIMIT`` lets DuckDB have."""

    def __init__(self, limit: int, detail: str) -> None:
        super().__init__(
            f"The refresh ran out of memory: it may use {size_text(limit)} "
            f"({MEMORY_SETTING}), and DuckDB could not fit its work in that ({detail}). "
            "The previous data is kept.",
            f"Set {MEMORY_SETTING} higher (e.g. {size_text(2 * limit).replace(' ', '')}) where "
            "Flitch runs, then refresh again.",
        )
        self.limit = limit


class DiskFull(FlitchError):
    """The disk holding a connection's cache filled while a refresh wrote the next version."""

    def __init__(self, folder: Path, current: int = 0) -> None:
        beside = f" beside the current one ({size_text(current)})" if current else ""
        super().__init__(
            f"The disk holding the cache ({folder}) is full: a refresh writes the next version "
            f"of the data{beside}, and {size_text(_free(folder))} is free now. The refresh "
            "stopped and the previous data is kept.",
            "Free space on that disk (at least the size of the cache, and more as the account "
            "grows), or move FLITCH_HOME to a larger one, then refresh again.",
        )
        self.folder = folder


def _free(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc)
    return isinstance(exc, duckdb.Error) and (
        "No space left on device" in text or "Disk quota exceeded" in text
    )


def exhausted(exc: BaseException) -> bool:
    """DuckDB ran out of memory or disk: nothing to leave out and go on from."""
    return isinstance(exc, duckdb.OutOfMemoryException) or _no_space(exc)


def _chain(exc: BaseException) -> list[BaseException]:
    """The error and those it was raised while handling (DuckDB's first error may be hidden
    by a second one about the transaction it aborted)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def explain(exc: BaseException, folder: Path, limit: int, current: int = 0) -> FlitchError | None:
    """The ``FlitchError`` for running out of memory or disk while a refresh writes the next
    version into ``folder`` (its DuckDB limited to ``limit`` bytes, the current version
    ``current`` bytes), with the error it explains as its cause; None for any other error."""
    for err in _chain(exc):
        found: FlitchError | None = None
        if isinstance(err, OutOfMemory | DiskFull):
            return err
        if isinstance(err, duckdb.OutOfMemoryException):
            detail = str(err).splitlines()[0].removeprefix("Out of Memory Error: ")
            found = OutOfMemory(limit, detail)
        elif _no_space(err):
            found = DiskFull(folder, current)
        if found is not None:
            found.__cause__ = err
            return found
    return None
