"""``/healthz`` and ``/readyz``: for load balancers, orchestrators and monitoring.

- ``/healthz`` answers 200 while the process serves requests (liveness: restart it if not).
- ``/readyz`` answers 200 when this replica can serve: the metadata database answers, its
  schema is the one this Flitch writes (``flitch db upgrade`` has run), and the cache folder
  takes a new file. Otherwise 503, naming the check that failed and what to do (readiness: send
  it no traffic until then).

Both are open to anyone and say nothing an outsider could use: no address, path, user name or
driver message (those go to the server's log), no data, no version.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from flitch.metadb import DatabaseError
from flitch.metadb.upgrade import latest, versions
from flitch.private import private_dir
from flitch.web.context import WebContext

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", name="healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    """The process is alive and answering."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", name="readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: metadata reachable, migrations current, cache folder writable."""
    ctx: WebContext = request.app.state.flitch
    checks = {"metadata": _metadata(ctx), "cache": _cache(ctx)}
    if checks["metadata"]["ok"]:
        checks["migrations"] = _migrations(ctx)
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _metadata(ctx: WebContext) -> dict[str, Any]:
    db = ctx.connections.db.db
    try:
        db.query("SELECT 1")
    except (DatabaseError, OSError) as exc:
        log.warning("readyz: the metadata database did not answer: %s", exc)
        return {
            "ok": False,
            "engine": db.engine,
            "message": "The metadata database does not answer.",
            "fix": "Check that it runs and that FLITCH_DATABASE_URL reaches it "
            "(`flitch db check` says why not); the server's log has the error.",
        }
    return {"ok": True, "engine": db.engine}


def _migrations(ctx: WebContext) -> dict[str, Any]:
    want = latest()
    try:
        found = versions(ctx.connections.db.db)
    except DatabaseError as exc:
        log.warning("readyz: the schema versions could not be read: %s", exc)
        found = {}
    if found == want:
        return {"ok": True, "versions": found}
    newer = any(found.get(k, 0) > v for k, v in want.items())
    return {
        "ok": False,
        "versions": found,
        "expected": want,
        "message": "The metadata tables were written by a newer Flitch."
        if newer
        else "The metadata tables are behind this Flitch.",
        "fix": "Upgrade Flitch on this machine."
        if newer
        else "Run `flitch db upgrade` (once, from any machine), then this replica is ready.",
    }


def _cache(ctx: WebContext) -> dict[str, Any]:
    folder = ctx.connections.cache_location.root
    probe = folder / f".ready-{secrets.token_hex(6)}.tmp"
    try:
        private_dir(folder, existing=False)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"ready")
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        log.warning("readyz: the cache folder %s is not writable: %s", folder, exc)
        return {
            "ok": False,
            "message": "The cache folder does not take new files.",
            "fix": "Check that FLITCH_HOME is on a mounted, writable disk with free space and "
            "belongs to the user Flitch runs as; the server's log names the folder.",
        }
    return {"ok": True}
