"""Refresh now in server mode (``FLITCH_REFRESH_WORKERS=1``): queued for the workers, followed
from the queue.

The web app's API and pages talk to :class:`~flitch.web.refreshes.RefreshJobs`; this is the same
interface over the jobs table (:mod:`flitch.refresh.jobs`) instead of threads of this process.
"Refresh now" queues a job (or answers the one of the connection already waiting or running),
and its progress is what the worker writes into the job at each heartbeat, so every replica
shows the same job whichever replica started it and whichever worker runs it. A job waiting
for a worker reads as running, at stage "queued".
"""

from __future__ import annotations

import threading

from flitch.connections.records import ConnectionInfo, DatasetStatus
from flitch.connections.service import ConnectionService
from flitch.errors import InputError, NotFound
from flitch.refresh.jobs import Job, JobKind, JobQueue
from flitch.refresh.jobs import JobState as QueueState
from flitch.web.refreshes import ID_PREFIX, JobState, RefreshJob, RefreshJobs

#: What a queued job waiting for a worker says it is doing.
QUEUED_STAGE = "queued"


class QueuedRefreshJobs(RefreshJobs):
    """Refresh now through the workers' queue (see the module docstring)."""

    def __init__(self, service: ConnectionService) -> None:
        super().__init__(service)
        self.queue = JobQueue(service.db.db)

    def start(self, conn: ConnectionInfo, *, full: bool = False) -> RefreshJob:
        """Queue a refresh of ``conn`` (the open job of it, if there is one)."""
        readable = [d for d in conn.datasets if d.status is not DatasetStatus.MISSING_PERMISSION]
        if not readable:
            raise InputError(
                "Nothing to refresh: the key cannot read any of the picked objects.",
                "Edit the key in Stripe and grant Read on the objects, then update the key "
                "here (Update key).",
            )
        current = next((j for j in self.queue.jobs(conn.id, limit=5) if j.open), None)
        if current is None:
            kind = JobKind.FULL if full else JobKind.REFRESH
            current, _ = self.queue.enqueue(conn.id, kind, requested_by="web")
            assert current is not None
        return view(current, conn.name)

    def get(self, job_id: str) -> RefreshJob:
        if job_id.startswith(ID_PREFIX):  # never queued here: not one of this mode's ids
            return super().get(job_id)
        try:
            job = self.queue.get(job_id)
            name = self.service.get(job.connection_id).name
        except NotFound:
            return super().get(job_id)  # says no such refresh is known
        return view(job, name)

    def latest(self, connection_id: str) -> RefreshJob | None:
        job = self.queue.latest(connection_id)
        if job is None:
            return None
        return view(job, self.service.get(connection_id).name)

    def stop(self, connection_id: str, timeout: float = 60.0) -> None:
        """End the connection's jobs; a worker running one sees its lease gone at its next
        heartbeat and interrupts the refresh. Waits for that run to end, at most until the
        lease would have run out (or ``timeout``); a job whose worker died is not waited for."""
        now = self.queue.clock()
        held = [
            j.lease_expires_at
            for j in self.queue.jobs(connection_id, limit=10)
            if j.state is QueueState.RUNNING and (j.lease_expires_at or 0.0) > now
        ]
        self.queue.cancel(connection_id, "Stopped: the connection is being deleted.")
        if not held:
            return
        wait = min(timeout, max(h for h in held if h is not None) - now + 1.0)
        pause = threading.Event()
        for _ in range(max(1, int(wait / 0.2))):
            runs = self.service.db.runs(connection_id, limit=1)
            if not runs or runs[0].outcome.value != "running":
                return
            pause.wait(0.2)

    def close(self) -> None:
        """Nothing runs in this process: the workers keep their jobs."""


def view(job: Job, connection: str) -> RefreshJob:
    """A queued job as the web app's refresh job (the API's ``RefreshJobOut``)."""
    progress = job.progress or {}
    if job.state is QueueState.DONE:
        state = JobState(job.outcome) if job.outcome in ("ok", "partial") else JobState.OK
    elif job.state is QueueState.FAILED:
        state = JobState.FAILED
    else:
        state = JobState.RUNNING
    stage = QUEUED_STAGE if job.state is QueueState.QUEUED else progress.get("stage", "starting")
    if job.state is QueueState.DONE:
        stage = "done"
    elif job.state is QueueState.FAILED:
        stage = "failed"
    return RefreshJob(
        id=job.id,
        connection_id=job.connection_id,
        connection=connection,
        full=job.kind is JobKind.FULL,
        started_at=job.started_at or job.requested_at,
        state=state,
        stage=str(stage),
        finished_at=job.finished_at,
        requests=int(progress.get("requests", 0)),
        records=int(progress.get("records", 0)),
        elapsed=float(progress.get("elapsed_seconds", 0.0)),
        datasets=list(progress.get("datasets", [])),
        error={"message": job.error, "fix": job.fix or ""} if job.error else None,
        run_id=job.run_id,
    )
