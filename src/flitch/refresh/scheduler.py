"""The scheduler: refreshes each connection that has refresh on, on its interval, and checks it
against Stripe once a day.

What is due comes from the metadata (each dataset's ``next_due_at``, set by every refresh to one
interval after it ended; a failed one is tried again sooner), so the schedule survives restarts
and is shared by every process: ``flitch scheduler`` in the foreground, or the
:class:`Scheduler` that ``flitch serve`` runs on a background thread. Connections with refresh
off are never scheduled; datasets blocked by a missing permission are skipped (their data is
kept); a connection whose key failed authentication waits until the key is updated.

Whichever processes run, one schedules: the loop holds the scheduler's lock
(:mod:`.leader`) before each pass, and the others wait for it. What the pass does with due work
depends on ``FLITCH_REFRESH_WORKERS``:

- off (one machine, the default): it runs each refresh itself, one after another, as it always
  has; should a refresh of the connection be at work elsewhere (``flitch refresh`` in a
  terminal), the store's writer lock refuses the second ("already running"), reported and
  skipped;
- on (server mode): it queues a job per connection due (:mod:`.jobs`), unless one of that
  connection waits or runs already, and ``flitch worker`` processes run them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.records import ConnectionInfo, iso
from flitch.connections.service import ConnectionService
from flitch.errors import FlitchError
from flitch.refresh.jobs import JobKind, JobQueue
from flitch.refresh.leader import Leadership
from flitch.refresh.runner import RefreshResult, refresh
from flitch.refresh.verify import VerifyResult, verify
from flitch.store.base import RefreshRunning

log = logging.getLogger("flitch.scheduler")

#: How often the scheduler looks for due work.
DEFAULT_POLL = 30.0
#: How often each scheduled connection's cache is checked against Stripe.
DEFAULT_VERIFY_EVERY = 24 * 3600
#: A check that failed is tried again after this long (or ``verify_every``, if shorter).
RETRY_CHECK_AFTER = 3600


@dataclass
class ScheduledRun:
    """One thing the scheduler did (or skipped) for a connection."""

    connection: str
    connection_id: str
    kind: str  # "refresh" or "verify"
    objects: tuple[str, ...] = ()
    outcome: str = "skipped"
    message: str = ""
    result: RefreshResult | VerifyResult | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "kind": self.kind,
            "objects": list(self.objects),
            "outcome": self.outcome,
            "message": self.message,
            "result": self.result.to_dict() if self.result is not None else None,
        }


@dataclass(frozen=True)
class DatasetSchedule:
    object: str
    status: str
    last_refresh_at: float | None
    next_due_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "status": self.status,
            "last_refresh_at": iso(self.last_refresh_at),
            "next_due_at": iso(self.next_due_at),
        }


@dataclass(frozen=True)
class ConnectionSchedule:
    """When a connection's datasets were last refreshed and are next due."""

    name: str
    id: str
    refresh: str
    status: str
    datasets: tuple[DatasetSchedule, ...]
    last_verified_at: float | None

    @property
    def next_due_at(self) -> float | None:
        times = [d.next_due_at for d in self.datasets if d.next_due_at is not None]
        return min(times) if times else None

    @property
    def last_refresh_at(self) -> float | None:
        times = [d.last_refresh_at for d in self.datasets if d.last_refresh_at is not None]
        return max(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "refresh": self.refresh,
            "status": self.status,
            "last_refresh_at": iso(self.last_refresh_at),
            "next_due_at": iso(self.next_due_at),
            "last_verified_at": iso(self.last_verified_at),
            "datasets": [d.to_dict() for d in self.datasets],
        }


class Scheduler:
    """Runs due refreshes (and the daily check) for the connections of one ``FLITCH_HOME``."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = clocks.now,
        poll: float = DEFAULT_POLL,
        verify_every: float | None = DEFAULT_VERIFY_EVERY,
        on_run: Callable[[ScheduledRun], None] | None = None,
        queue: bool | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.poll = poll
        self.verify_every = verify_every
        self.on_run = on_run
        #: queue due work for workers instead of running it (default: FLITCH_REFRESH_WORKERS)
        self.queue = settings.refresh_workers if queue is None else queue
        self.leadership = Leadership(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: when this process last tried to check each connection (a failed check waits)
        self._checked: dict[str, float] = {}
        #: connections whose skip was already reported (reported again once they run)
        self._skipped: set[str] = set()

    # -- what is scheduled -------------------------------------------------------------------------
    def status(self) -> list[ConnectionSchedule]:
        """Every connection with refresh on: its datasets' last refresh and next due time."""
        with ConnectionService(self.settings) as service:
            return [
                self._schedule(service, info)
                for info in service.list()
                if info.refresh_every is not None
            ]

    @staticmethod
    def _schedule(service: ConnectionService, info: ConnectionInfo) -> ConnectionSchedule:
        return ConnectionSchedule(
            name=info.name,
            id=info.id,
            refresh=info.refresh,
            status=info.status,
            datasets=tuple(
                DatasetSchedule(d.object, d.status.value, d.last_refresh_at, d.next_due_at)
                for d in info.datasets
            ),
            last_verified_at=service.db.last_run_at(info.id, "verify"),
        )

    # -- doing it ----------------------------------------------------------------------------------
    def run_once(self) -> list[ScheduledRun]:
        """Run everything due now, one connection after another; returns what was done."""
        done: list[ScheduledRun] = []
        with ConnectionService(self.settings) as service:
            now = self.clock()
            due = service.db.due_datasets(now)
            for info in service.list():
                if info.refresh_every is None or self._stop.is_set():
                    continue
                objects = due.get(info.id)
                act = self._enqueue if self.queue else self._refresh
                run = act(service, info, objects) if objects else None
                if run is not None:
                    done.append(run)
                if not self._verify_due(service, info, now):
                    continue
                run = (
                    self._enqueue(service, info, ()) if self.queue else self._verify(service, info)
                )
                if run is not None:
                    done.append(run)
        return done

    def _enqueue(
        self, service: ConnectionService, info: ConnectionInfo, objects: tuple[str, ...]
    ) -> ScheduledRun | None:
        """Queue a refresh of ``objects`` (none: the check) for the workers (``None``: a job of
        the connection waits or runs already, or its key failed as reported before)."""
        kind = JobKind.REFRESH if objects else JobKind.VERIFY
        run = ScheduledRun(info.name, info.id, kind.value, objects)
        if info.status == "auth_failed":
            return self._skip_auth_failed(info, run)
        self._skipped.discard(info.id)
        if kind is JobKind.VERIFY:
            self._checked[info.id] = self.clock()
        queue = JobQueue(service.db.db, clock=self.clock)
        job, _ = queue.enqueue(
            info.id,
            kind,
            requested_by="schedule",
            objects=objects,
            only_if_idle=True,
            due_at=self.clock() if objects else None,
        )
        if job is None:
            return None
        run.outcome, run.message = "queued", f"job {job.id} for the workers"
        return self._report(run)

    def _skip_auth_failed(self, info: ConnectionInfo, run: ScheduledRun) -> ScheduledRun | None:
        run.message = (
            "skipped: the key failed authentication. Create a new restricted key and update "
            f"the connection (`flitch update-key {info.name}`)."
        )
        if info.id in self._skipped:
            return None
        self._skipped.add(info.id)
        return self._report(run)

    def _report(self, run: ScheduledRun) -> ScheduledRun:
        log.info("%s %s: %s %s", run.kind, run.connection, run.outcome, run.message)
        if self.on_run is not None:
            self.on_run(run)
        return run

    def _refresh(
        self, service: ConnectionService, info: ConnectionInfo, objects: tuple[str, ...]
    ) -> ScheduledRun | None:
        """Refresh the due datasets (``None``: skipped, and that was reported already)."""
        run = ScheduledRun(info.name, info.id, "refresh", objects)
        if info.status == "auth_failed":
            return self._skip_auth_failed(info, run)
        self._skipped.discard(info.id)
        try:
            result = refresh(
                service, info.id, objects=objects, trigger="schedule", clock=self.clock
            )
        except RefreshRunning:
            run.outcome, run.message = "running", "skipped: a refresh of it is already running"
            return self._report(run)
        except FlitchError as exc:
            run.outcome, run.message = "failed", str(exc)
            return self._report(run)
        run.result, run.outcome = result, result.outcome.value
        run.message = (
            f"{result.records} records, {result.requests} requests, {result.seconds:.1f} s"
            + (f"; {result.error}" if result.error is not None else "")
        )
        return self._report(run)

    def _verify_due(self, service: ConnectionService, info: ConnectionInfo, now: float) -> bool:
        if self.verify_every is None or info.status == "auth_failed":
            return False
        if info.last_refresh_at is None:
            return False  # nothing cached yet: the first refresh comes first
        tried = self._checked.get(info.id)
        if tried is not None and now - tried < min(self.verify_every, RETRY_CHECK_AFTER):
            return False  # tried lately (and failed, or it would have recorded a run)
        last = service.db.last_run_at(info.id, "verify")
        since = last if last is not None else info.created_at
        return now - since >= self.verify_every

    def _verify(self, service: ConnectionService, info: ConnectionInfo) -> ScheduledRun:
        run = ScheduledRun(info.name, info.id, "verify", info.objects)
        self._checked[info.id] = self.clock()
        try:
            result = verify(service, info.id, clock=self.clock)
        except RefreshRunning:
            run.outcome, run.message = "running", "skipped: a refresh of it is already running"
            return self._report(run)
        except FlitchError as exc:
            run.outcome, run.message = "failed", str(exc)
            return self._report(run)
        run.result = result
        if result.error is not None:
            run.outcome, run.message = "failed", str(result.error)
        else:
            run.outcome = "ok" if result.complete else "partial"
            run.message = (
                f"{result.differences} differences found and repaired"
                if result.differences
                else "the cache matches Stripe"
            )
        return self._report(run)

    def run_forever(self) -> None:
        """Every ``poll`` seconds, if this process holds the scheduler's lock, run (or queue)
        due work, until :meth:`stop` (or Ctrl-C in the foreground)."""
        leading = False
        try:
            while not self._stop.is_set():
                try:
                    now_leading = self.leadership.hold()
                    if now_leading != leading:
                        log.info(
                            "this process schedules now"
                            if now_leading
                            else "another process schedules; this one waits for its turn"
                        )
                        leading = now_leading
                    if leading:
                        self.run_once()
                except Exception:  # keep the schedule alive; the error is logged
                    log.exception("the scheduler's pass failed; it tries again at the next poll")
                self._stop.wait(self.poll)
        finally:
            self.leadership.release()

    def start(self) -> Scheduler:
        """Run in a background thread (``flitch serve``); returns at once."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.run_forever, name="flitch-scheduler", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the scheduler to stop and wait for the refresh at work, if any, to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
