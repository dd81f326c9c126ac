"""The one seam of tenancy in the web app: a request's services, bound to its workspace.

The middleware (:mod:`flitch.web.auth`) resolves the workspace a request acts in; then
:func:`flitch.web.context.context_of` — the only way a handler gets at connections, datasets,
refreshes and dashboards — hands it a context whose services are bound to that workspace:

- the connections (:meth:`ConnectionService.in_workspace`): a connection of another workspace
  is not found — the same 404 as one that never existed — and with it its datasets, rows,
  exports, drill-downs, dashboards' data, customers and refreshes, which are all reached
  through the connection a bound lookup returned;
- the refreshes (:class:`WorkspaceRefreshes`): a refresh id of another workspace's connection
  is not found;
- the dashboards (:class:`~flitch.dashboards.storage.DashboardStore` of the workspace): every
  statement names the workspace;
- the API tokens (:class:`WorkspaceTokens`): made to act in the workspace, listed and revoked
  only there.

A handler cannot forget a ``WHERE``: it never sees an unbound service. The unbound ones stay on
the app (the scheduler, the refresh threads and the health probes, which answer no user's data).
"""

from __future__ import annotations

from typing import Protocol

from flitch.connections.records import ConnectionInfo
from flitch.connections.service import ConnectionService
from flitch.errors import NotFound
from flitch.web.refreshes import RefreshJob
from flitch.web.users import ApiToken, UserStore


class Refreshes(Protocol):
    """What handlers ask of the refreshes (the app's, or one workspace's view of them)."""

    def start(self, conn: ConnectionInfo, *, full: bool = False) -> RefreshJob: ...

    def get(self, job_id: str) -> RefreshJob: ...

    def latest(self, connection_id: str) -> RefreshJob | None: ...

    def stop(self, connection_id: str, timeout: float = 60.0) -> None: ...

    def close(self) -> None: ...


#: Job ids remembered with the workspace that started them (the oldest are forgotten first).
JOBS_REMEMBERED = 2000


class WorkspaceRefreshes:
    """The app's refreshes as one workspace sees them: only its connections' jobs.

    A job started here is remembered with its workspace (``started_in``, shared by every
    request of the app), so that it stays visible to that workspace after its connection was
    deleted, and to no other; a job started elsewhere (a worker's queue) belongs to the
    workspace of its connection."""

    def __init__(
        self,
        jobs: Refreshes,
        connections: ConnectionService,
        started_in: dict[str, str] | None = None,
    ) -> None:
        self._jobs = jobs
        #: bound to the workspace: its lookups are the check
        self._connections = connections
        self._started_in = {} if started_in is None else started_in

    def start(self, conn: ConnectionInfo, *, full: bool = False) -> RefreshJob:
        self._connections.get(conn.id)
        job = self._jobs.start(conn, full=full)
        if self._connections.workspace_id is not None:
            self._started_in[job.id] = self._connections.workspace_id
            while len(self._started_in) > JOBS_REMEMBERED:
                del self._started_in[next(iter(self._started_in))]
        return job

    def get(self, job_id: str) -> RefreshJob:
        job = self._jobs.get(job_id)
        owner = self._started_in.get(job_id)
        if owner is not None:
            if owner == self._connections.workspace_id:
                return job
        else:
            try:
                self._connections.get(job.connection_id)
                return job
            except NotFound:
                pass
        raise NotFound(
            f"No refresh {job_id!r} is known to this server.",
            "Open the connection's page to see its last refresh.",
        )

    def latest(self, connection_id: str) -> RefreshJob | None:
        self._connections.get(connection_id)
        return self._jobs.latest(connection_id)

    def stop(self, connection_id: str, timeout: float = 60.0) -> None:
        self._connections.get(connection_id)
        self._jobs.stop(connection_id, timeout)

    def close(self) -> None:
        """Nothing: the app's refreshes are closed with the app, not with a request."""


class WorkspaceTokens:
    """API tokens of one workspace: made to act there, listed and revoked only there."""

    def __init__(self, users: UserStore, workspace_id: str) -> None:
        self._users = users
        self.workspace_id = workspace_id

    def list(self, user_id: int | None) -> list[ApiToken]:
        """The workspace's tokens (of one user, when given)."""
        return self._users.list_tokens(user_id, workspace_id=self.workspace_id)

    def create(self, user_name: str, label: str) -> tuple[ApiToken, str]:
        return self._users.create_token(user_name, label, workspace_id=self.workspace_id)

    def revoke(self, token_id: int, *, user_id: int | None) -> None:
        self._users.revoke_token(token_id, user_id=user_id, workspace_id=self.workspace_id)
