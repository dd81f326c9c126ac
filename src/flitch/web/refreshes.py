"""Refreshes started from the web app ("Refresh now"), run in the background and followed.

Starting one returns at once with the id of a :class:`RefreshJob`; the refresh runs on its own
thread (and event loop) through :class:`flitch.refresh.Refresher`, whose progress callback keeps
the job's snapshot current: per object the records, pages, rate, elapsed time and state. The page
polls that snapshot. One connection has at most one refresh at a time here; a refresh the
scheduler runs meanwhile holds the store's writer lock, and the job then ends saying so.

A job can be stopped (deleting a connection stops its refresh first, so the cache can be
destroyed); the runner then keeps the previous data and records the run as interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flitch import clock as clocks
from flitch.connections.records import ConnectionInfo, DatasetStatus, iso
from flitch.connections.service import ConnectionService
from flitch.errors import FlitchError, InputError, NotFound
from flitch.refresh import Refresher, RefreshProgress, RefreshResult
from flitch.web.errors import Conflict

log = logging.getLogger(__name__)

#: Finished jobs kept for their progress to be read (the oldest are forgotten first).
KEEP_FINISHED = 50
ID_PREFIX = "rj_"


class JobState(StrEnum):
    RUNNING = "running"
    #: every dataset refreshed
    OK = "ok"
    #: some datasets refreshed, others failed or are blocked
    PARTIAL = "partial"
    FAILED = "failed"
    #: stopped before it finished (the connection was deleted, or the app shut down)
    STOPPED = "stopped"


@dataclass
class RefreshJob:
    """One "Refresh now": its state and the latest progress of the refresh it runs."""

    id: str
    connection_id: str
    connection: str
    full: bool
    started_at: float = field(default_factory=clocks.now)
    state: JobState = JobState.RUNNING
    stage: str = "starting"
    finished_at: float | None = None
    requests: int = 0
    records: int = 0
    elapsed: float = 0.0
    datasets: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    #: the run's id in the connection's refresh history, once it has ended
    run_id: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cancel: Any = field(default=None, repr=False)
    _stop_requested: bool = field(default=False, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    def observe(self, progress: RefreshProgress) -> None:
        """Take a snapshot of the refresh's progress (called from the refresh's thread)."""
        datasets = []
        for d in progress.datasets.values():
            item = d.to_dict()
            item["label"] = d.label
            datasets.append(item)
        with self._lock:
            self.stage = progress.stage
            self.requests = progress.requests
            self.records = progress.records
            self.elapsed = progress.elapsed
            self.datasets = datasets

    def finish(self, result: RefreshResult) -> None:
        self.observe_result(result)
        with self._lock:
            self.state = JobState(result.outcome.value)
            self.run_id = result.run_id
            if result.error is not None:
                self.error = {"message": result.error.message, "fix": result.error.fix}
            self.finished_at = clocks.now()

    def observe_result(self, result: RefreshResult) -> None:
        datasets = []
        for d in result.datasets:
            item = d.to_dict()
            item["label"] = d.label
            datasets.append(item)
        with self._lock:
            self.datasets = datasets
            self.requests = result.requests
            self.records = result.records
            self.elapsed = result.seconds

    def fail(self, error: FlitchError, state: JobState = JobState.FAILED) -> None:
        with self._lock:
            self.state = state
            self.stage = "stopped" if state is JobState.STOPPED else "failed"
            self.error = {"message": error.message, "fix": error.fix}
            self.finished_at = clocks.now()
            if self.started_at and not self.elapsed:
                self.elapsed = self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            elapsed = self.elapsed
            if self.running:
                elapsed = max(elapsed, clocks.now() - self.started_at)
            return {
                "id": self.id,
                "connection_id": self.connection_id,
                "connection": self.connection,
                "state": self.state.value,
                "stage": self.stage,
                "full": self.full,
                "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at),
                "elapsed_seconds": round(elapsed, 3),
                "records": self.records,
                "requests": self.requests,
                "records_per_second": round(self.records / elapsed, 1) if elapsed > 0 else 0.0,
                "datasets": list(self.datasets),
                "error": dict(self.error) if self.error else None,
                "run_id": self.run_id,
            }


class RefreshJobs:
    """The web app's background refreshes (see the module docstring)."""

    def __init__(self, service: ConnectionService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, RefreshJob] = OrderedDict()

    def start(self, conn: ConnectionInfo, *, full: bool = False) -> RefreshJob:
        """Start refreshing ``conn`` in the background; ``Conflict`` if it already is."""
        readable = [d for d in conn.datasets if d.status is not DatasetStatus.MISSING_PERMISSION]
        if not readable:
            raise InputError(
                "Nothing to refresh: the key cannot read any of the picked objects.",
                "Edit the key in Stripe and grant Read on the objects, then update the key "
                "here (Update key).",
            )
        with self._lock:
            current = self._running_for(conn.id)
            if current is not None:
                raise Conflict(
                    "A refresh of this connection is already running.",
                    f"Follow its progress (/api/v1/refreshes/{current.id}), then try again.",
                )
            job = RefreshJob(ID_PREFIX + secrets.token_hex(8), conn.id, conn.name, full)
            self._jobs[job.id] = job
            self._trim()
        thread = threading.Thread(
            target=self._run, args=(job,), name=f"flitch-refresh-{conn.id}", daemon=True
        )
        job._thread = thread
        thread.start()
        return job

    def _run(self, job: RefreshJob) -> None:
        loop = asyncio.new_event_loop()
        try:
            refresher = Refresher(self.service, on_progress=job.observe)
            task = loop.create_task(refresher.run(job.connection_id, full=job.full, trigger="web"))
            with job._lock:
                job._cancel = lambda: loop.call_soon_threadsafe(task.cancel)
                if job._stop_requested:
                    task.cancel()
            result = loop.run_until_complete(task)
            job.finish(result)
        except asyncio.CancelledError:
            job.fail(
                FlitchError(
                    "The refresh was stopped; the previous data is kept.",
                    "Run Refresh now again when you want the data refreshed.",
                ),
                JobState.STOPPED,
            )
        except FlitchError as error:
            job.fail(error)
        except Exception as error:  # recorded by the runner too; the job must not hang
            log.exception("refresh job %s crashed", job.id)
            job.fail(
                FlitchError(
                    f"The refresh crashed ({type(error).__name__}); the previous data is kept.",
                    "Run Refresh now again; if it crashes again, the server's log has details.",
                )
            )
        finally:
            with job._lock:
                job._cancel = None
            loop.close()

    def _running_for(self, connection_id: str) -> RefreshJob | None:
        for job in reversed(self._jobs.values()):
            if job.connection_id == connection_id and job.running:
                return job
        return None

    def _trim(self) -> None:
        finished = [j.id for j in self._jobs.values() if not j.running]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]

    def get(self, job_id: str) -> RefreshJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise _unknown_job(job_id)
        return job

    def latest(self, connection_id: str) -> RefreshJob | None:
        """The newest job of a connection (running or not), if this app started one."""
        with self._lock:
            for job in reversed(self._jobs.values()):
                if job.connection_id == connection_id:
                    return job
        return None

    def stop(self, connection_id: str, timeout: float = 60.0) -> None:
        """Stop the connection's running refresh, if any, and wait until it has let go."""
        with self._lock:
            job = self._running_for(connection_id)
        if job is not None:
            self._stop_job(job, timeout)

    def _stop_job(self, job: RefreshJob, timeout: float) -> None:
        with job._lock:
            job._stop_requested = True
            cancel = job._cancel
        if cancel is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed: it ended by itself
                cancel()
        if job._thread is not None:
            job._thread.join(timeout)

    def close(self) -> None:
        """Stop every running refresh (the app is shutting down)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.running]
        for job in running:
            self._stop_job(job, 30.0)


def _unknown_job(job_id: str) -> FlitchError:
    return NotFound(
        f"No refresh {job_id!r} is known to this server.",
        "Refreshes are followed while the server runs; open the connection's page to see its "
        "last refresh.",
    )
