"""A refresh worker: takes jobs from the queue in the metadata database and runs them.

``flitch worker`` runs one :class:`Worker` with ``concurrency`` slots; each slot is a thread that
claims a job (:meth:`flitch.refresh.jobs.JobQueue.claim`), runs it on an event loop of its own
through the same :class:`~flitch.refresh.runner.Refresher` (or
:class:`~flitch.refresh.verify.Verifier`) every other part of Flitch uses, and records how it
ended. While it runs, a heartbeat renews the lease every third of its length and writes the
progress into the job, so any replica can show it. Any number of workers, on any machines
sharing the metadata database, can run at once: the queue gives each job to one of them, and
never two jobs of one connection at the same time.

Stopping (:meth:`Worker.request_stop`: SIGTERM or Ctrl-C in ``flitch worker``) takes no new job
and interrupts the ones running: each refresh keeps the previous data (it publishes only when
whole), its run is recorded as interrupted, and its job goes back to the queue at once for
another worker. A worker that finds its lease gone (it was too slow to renew it and another
worker took the job, or the connection was deleted) stops that refresh the same way.

Logs say which job runs, for which connection (name and id) and how it ended; never a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.errors import FlitchError
from flitch.refresh.jobs import DEFAULT_LEASE, Job, JobKind, JobQueue
from flitch.refresh.progress import RefreshProgress
from flitch.refresh.runner import Refresher, RefreshResult
from flitch.refresh.verify import Verifier, VerifyResult

log = logging.getLogger("flitch.worker")

#: Seconds between looks at an empty queue.
DEFAULT_POLL = 2.0

#: What a worker reports: ("claimed" | "done" | "failed" | "released" | "lost", the job).
EventCallback = Callable[[str, Job], None]


def snapshot(progress: RefreshProgress | None) -> dict[str, Any] | None:
    """A refresh's progress as the job records it (the web app's progress fields)."""
    if progress is None:
        return None
    try:
        datasets = [{**d.to_dict(), "label": d.label} for d in list(progress.datasets.values())]
    except RuntimeError:  # the refresh changed its datasets while they were read: next time
        return None
    return {
        "stage": progress.stage,
        "records": progress.records,
        "requests": progress.requests,
        "elapsed_seconds": round(progress.elapsed, 3),
        "datasets": datasets,
    }


class _Running:
    """One job at work in a slot: its loop and task (to interrupt it), its latest progress."""

    def __init__(self, job: Job, owner: str) -> None:
        self.job = job
        self.owner = owner
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[Any] | None = None
        self.progress: RefreshProgress | None = None
        self.lost = False
        self.ended = threading.Event()

    def observe(self, progress: RefreshProgress) -> None:
        self.progress = progress

    def interrupt(self) -> None:
        task = self.task
        if task is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: it ended already
                self.loop.call_soon_threadsafe(task.cancel)


class Worker:
    """Runs queued jobs until stopped (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 1,
        poll: float = DEFAULT_POLL,
        lease: float = DEFAULT_LEASE,
        name: str | None = None,
        clock: Callable[[], float] = clocks.now,
        on_event: EventCallback | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("a worker needs at least one slot")
        self.settings = settings
        self.concurrency = concurrency
        self.poll = poll
        self.clock = clock
        self.on_event = on_event
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.service = ConnectionService(settings)
        self.queue = JobQueue(self.service.db.db, lease=lease, clock=clock)
        self.heartbeat_every = lease / 3
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}

    def close(self) -> None:
        self.service.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        """Run ``concurrency`` slots until :meth:`request_stop`; returns once all have ended."""
        slots = [
            threading.Thread(target=self._slot, args=(i,), name=f"flitch-worker-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for slot in slots:
            slot.start()
        while any(s.is_alive() for s in slots):
            for slot in slots:
                slot.join(0.2)  # short waits: the main thread keeps taking signals

    def request_stop(self) -> None:
        """Take no new job; interrupt the running ones (their jobs go back to the queue)."""
        self._stop.set()
        with self._lock:
            running = list(self._running.values())
        for r in running:
            r.interrupt()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _slot(self, index: int) -> None:
        owner = f"{self.name}/{index}"
        while not self._stop.is_set():
            try:
                done = self.run_one(owner)
            except Exception:  # the database went away, say: keep the worker alive
                log.exception("worker %s: taking a job failed; trying again", owner)
                done = None
            if done is None:
                self._stop.wait(self.poll)

    # -- one job -------------------------------------------------------------------------------
    def run_one(self, owner: str | None = None) -> Job | None:
        """Claim one job and run it to its end; returns it (None: the queue had nothing)."""
        owner = owner or f"{self.name}/0"
        job = self.queue.claim(owner)
        if job is None:
            return None
        running = _Running(job, owner)
        with self._lock:
            self._running[job.id] = running
        self._report("claimed", job)
        heartbeat = threading.Thread(
            target=self._heartbeat, args=(running,), name=f"flitch-lease-{job.id}", daemon=True
        )
        heartbeat.start()
        try:
            return self._execute(running)
        finally:
            running.ended.set()
            heartbeat.join()
            with self._lock:
                self._running.pop(job.id, None)
            running.loop.close()

    def _execute(self, running: _Running) -> Job:
        job, owner = running.job, running.owner
        try:
            coro = self._work(job, running)
            running.task = running.loop.create_task(coro)
            if self._stop.is_set():
                running.interrupt()
            result = running.loop.run_until_complete(running.task)
        except asyncio.CancelledError:
            if running.lost:
                self._report("lost", job)
            else:
                self.queue.release(job.id, owner)
                self._report("released", job)
            return self.queue.get(job.id)
        except FlitchError as error:
            self.queue.finish(
                job.id,
                owner,
                failed=True,
                outcome="failed",
                error=error.message,
                fix=error.fix,
                progress=snapshot(running.progress),
            )
            return self._ended(job)
        except Exception as error:
            log.exception("job %s crashed", job.id)
            self.queue.finish(
                job.id,
                owner,
                failed=True,
                outcome="failed",
                error=f"The refresh crashed ({type(error).__name__}); the previous data is kept.",
                fix="The worker's log has the details; ask for the refresh again.",
            )
            return self._ended(job)
        self._record(running, result)
        return self._ended(job)

    def _work(self, job: Job, running: _Running) -> Coroutine[Any, Any, Any]:
        info = self.service.get(job.connection_id)
        log.info(
            "job %s: %s of %s (%s) for %s, attempt %d",
            job.id,
            job.kind.value,
            info.name,
            info.id,
            job.requested_by,
            job.attempts,
        )
        if job.kind is JobKind.VERIFY:
            verifier = Verifier(self.service, clock=self.clock, on_progress=running.observe)
            return verifier.run(info.id)
        refresher = Refresher(self.service, clock=self.clock, on_progress=running.observe)
        return refresher.run(
            info.id,
            full=job.kind is JobKind.FULL,
            objects=job.objects or None,
            trigger=job.requested_by,
        )

    def _record(self, running: _Running, result: RefreshResult | VerifyResult) -> None:
        job, owner = running.job, running.owner
        progress = snapshot(running.progress) or {}
        if isinstance(result, VerifyResult):
            failed = result.error is not None
            outcome = "failed" if failed else ("ok" if result.complete else "partial")
            progress["differences"] = result.differences
            run_id = None
        else:
            outcome = result.outcome.value
            failed = outcome == "failed"
            run_id = result.run_id
            progress.update(records=result.records, requests=result.requests)
        error = result.error
        self.queue.finish(
            job.id,
            owner,
            failed=failed,
            outcome=outcome,
            run_id=run_id,
            error=error.message if error is not None else None,
            fix=error.fix if error is not None else None,
            progress=progress,
        )

    def _ended(self, job: Job) -> Job:
        ended = self.queue.get(job.id)
        self._report(ended.state.value, ended)
        return ended

    def _heartbeat(self, running: _Running) -> None:
        while not running.ended.wait(self.heartbeat_every):
            try:
                kept = self.queue.heartbeat(
                    running.job.id, running.owner, snapshot(running.progress)
                )
            except Exception as error:  # the database is away: try again at the next beat
                log.warning("job %s: the lease could not be renewed (%s)", running.job.id, error)
                continue
            if not kept:
                log.warning(
                    "job %s: its lease is gone (taken by another worker, or the connection was "
                    "deleted); stopping it",
                    running.job.id,
                )
                running.lost = True
                running.interrupt()
                return

    def _report(self, event: str, job: Job) -> None:
        log.info("job %s (%s of %s): %s", job.id, job.kind.value, job.connection_id, event)
        if self.on_event is not None:
            self.on_event(event, job)


__all__ = ["DEFAULT_POLL", "Worker", "snapshot"]
