"""``flitch worker``: run queued refreshes until stopped (server mode); ``flitch jobs``: the
queue; and the CLI's side of it: ``flitch refresh`` with ``FLITCH_REFRESH_WORKERS=1`` queues its
refresh and follows it.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from flitch import clock as clocks
from flitch.cli.app import app
from flitch.errors import FlitchError, InputError

if TYPE_CHECKING:
    from flitch.connections.service import ConnectionService
    from flitch.refresh.jobs import Job


@app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-c", help="Jobs run at once (each a different connection).", min=1
        ),
    ] = 1,
    poll: Annotated[
        float,
        typer.Option("--poll", help="Seconds between looks at an empty queue.", min=0.05),
    ] = 2.0,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            help="Seconds a job stays this worker's without a heartbeat (renewed every third "
            "of it); a worker that dies loses its jobs to others after this long.",
            min=1.0,
        ),
    ] = 60.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each job's events as JSON lines.")
    ] = False,
) -> None:
    """Run queued refreshes until stopped (server mode: FLITCH_REFRESH_WORKERS=1).

    SIGTERM or Ctrl-C stops it: the refreshes at work are interrupted (each keeps the previous
    data) and their jobs go back to the queue for another worker.
    """
    from flitch.cli.refresh import _errors, _settings
    from flitch.refresh.worker import Worker

    out = Console(stderr=True, highlight=False, soft_wrap=True)
    with _errors(as_json):
        settings = _settings(None)

        def report(event: str, job: Job) -> None:
            if as_json:
                line = {"event": event, "job": job.to_dict()}
                sys.stdout.write(orjson.dumps(line).decode() + "\n")
                sys.stdout.flush()
                return
            detail = f" — {job.error}" if job.error and event in ("failed", "done") else ""
            out.print(
                f"{_when()}  {job.id} {job.kind.value} of {escape(_name(job.connection_id))}"
                f" (for {escape(job.requested_by)}): {event}{escape(detail)}"
            )

        with Worker(
            settings, concurrency=concurrency, poll=poll, lease=lease, on_event=report
        ) as work:

            def _name(connection_id: str) -> str:
                try:
                    return f"{work.service.get(connection_id).name} ({connection_id})"
                except FlitchError:  # deleted meanwhile
                    return connection_id

            def stop(signum: int, _frame: FrameType | None) -> None:
                if not as_json:
                    out.print(f"{_when()}  stopping ({signal.Signals(signum).name})…")
                work.request_stop()

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, stop)
                signal.signal(signal.SIGINT, stop)
            if not as_json:
                engine = work.service.db.engine
                out.print(
                    f"{_when()}  worker {work.name}: {concurrency} slot(s), queue in the "
                    f"{engine} metadata database, lease {lease:g} s. Ctrl-C stops."
                )
            work.run()
            if not as_json:
                out.print(f"{_when()}  stopped.")


def _when() -> str:
    return _when_at(clocks.now())


def queue_refresh(
    service: ConnectionService,
    name: str,
    *,
    full: bool,
    verify: bool,
    objects: str | None,
    as_json: bool,
) -> int:
    """``flitch refresh`` in server mode: queue the job, follow it until it ends."""
    from flitch.refresh.jobs import JobKind, JobQueue, JobState

    if (objects and full) or (verify and (full or objects)):
        raise InputError(
            "A queued job is a refresh of some objects, a full refresh, or a check: one of them.",
            "Pick one of --objects, --full and --verify.",
        )
    info = service.get(name)
    queue = JobQueue(service.db.db)
    kind = JobKind.VERIFY if verify else JobKind.FULL if full else JobKind.REFRESH
    job, new = queue.enqueue(
        info.id, kind, requested_by="manual", objects=objects.split(",") if objects else ()
    )
    assert job is not None
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not as_json:
        waiting = "queued" if new else "already queued"
        err.print(f"{job.kind.value} of {escape(info.name)} {waiting} as {job.id}; waiting…")
    seen = ""
    while job.open:
        threading.Event().wait(0.5)
        job = queue.get(job.id)
        stage = str((job.progress or {}).get("stage", job.state.value))
        if not as_json and stage != seen:
            records = (job.progress or {}).get("records", 0)
            err.print(f"  {stage} ({records} records)")
            seen = stage
    if as_json:
        sys.stdout.write(orjson.dumps({"ok": job.outcome == "ok", "job": job.to_dict()}).decode())
        sys.stdout.write("\n")
    elif job.state is JobState.DONE:
        err.print(f"{job.outcome}: run {job.run_id}")
    if job.state is JobState.FAILED:
        error = FlitchError(job.error or "The refresh failed.", job.fix or "")
        if not as_json:
            err.print(f"[bold red]{escape(error.message)}[/]")
            if error.fix:
                err.print(escape(error.fix))
        return 1
    return 0 if job.outcome == "ok" else 5


@app.command()
def jobs(
    name: Annotated[
        str | None, typer.Argument(help="Only this connection's jobs (name or id).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest jobs shown.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the jobs as JSON.")] = False,
) -> None:
    """The refresh workers' queue (server mode): newest jobs first, who runs them, how they
    ended."""
    from flitch.cli.refresh import _errors, _print_json, _settings
    from flitch.cli.workspace import in_chosen_workspace
    from flitch.connections.service import ConnectionService
    from flitch.refresh.jobs import JobQueue

    out = Console(highlight=False, soft_wrap=True)
    with _errors(as_json), ConnectionService(_settings(None)) as service:
        wanted = in_chosen_workspace(service).get(name).id if name else None
        found = JobQueue(service.db.db).jobs(wanted, limit=limit)
        if as_json:
            _print_json([j.to_dict() for j in found])
            return
        if not found:
            out.print("No jobs in the queue." + ("" if wanted else _queue_hint(service)))
            return
        names = {c.id: c.name for c in service.list()}
        for job in found:
            records = (job.progress or {}).get("records")
            detail = job.outcome or (job.progress or {}).get("stage", "")
            out.print(
                f"{_when_at(job.requested_at)}  {job.id}  {job.kind.value:<7} "
                f"{escape(names.get(job.connection_id, job.connection_id))}  "
                f"{job.state.value:<7} {escape(str(detail))}"
                + (f", {records} records" if records is not None else "")
                + (f"  worker {escape(job.lease_owner)}" if job.lease_owner else "")
                + (f"  attempts {job.attempts}" if job.attempts > 1 else "")
                + (f"\n    {escape(job.error)}" if job.error else "")
            )


def _queue_hint(service: ConnectionService) -> str:
    if service.settings.refresh_workers:
        return ""
    return " (FLITCH_REFRESH_WORKERS is off: refreshes run where they are decided.)"


def _when_at(ts: float) -> str:
    from flitch.cli.refresh import _when as when

    return when(ts)
