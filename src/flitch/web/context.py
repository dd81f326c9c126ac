"""Everything a request handler needs: built once per app by ``create_app`` (no globals), and
bound to the request's workspace by :func:`context_of` (:mod:`flitch.web.tenancy`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from starlette.requests import Request

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.dashboards.storage import DashboardStore
from flitch.web import setup_code as setup_codes
from flitch.web.errors import NotSignedIn
from flitch.web.queries import DatasetQueries
from flitch.web.render import Renderer
from flitch.web.sessions import Session, SessionStore
from flitch.web.tenancy import Refreshes, WorkspaceRefreshes, WorkspaceTokens
from flitch.web.throttle import SignInThrottle
from flitch.web.users import User, UserStore
from flitch.workspaces import NO_WORKSPACE, WorkspaceStore


@dataclass
class WebContext:
    settings: Settings
    users: UserStore
    sessions: SessionStore
    throttle: SignInThrottle
    renderer: Renderer
    connections: ConnectionService
    #: pages of rows and exports, live or cached (:mod:`flitch.web.queries`)
    queries: DatasetQueries
    #: "Refresh now" runs and their progress (:mod:`flitch.web.refreshes`)
    refreshes: Refreshes
    workspaces: WorkspaceStore
    clock: Callable[[], float] = clocks.now
    #: the workspace the services above are bound to (None: the app's own, unbound context)
    workspace_id: str | None = None
    #: the user dashboards of ``workspace_id`` (None in the unbound context)
    dashboards: DashboardStore | None = None
    #: the API tokens of ``workspace_id`` (None in the unbound context)
    tokens: WorkspaceTokens | None = None
    #: refresh job id → the workspace that started it (shared by every bound context)
    jobs_started_in: dict[str, str] = field(default_factory=dict)

    def bound_to(self, workspace_id: str) -> WebContext:
        """This context with connections, refreshes and dashboards of one workspace only."""
        connections = self.connections.in_workspace(workspace_id)
        return replace(
            self,
            connections=connections,
            refreshes=WorkspaceRefreshes(self.refreshes, connections, self.jobs_started_in),
            dashboards=DashboardStore(self.users.db, workspace_id),
            tokens=WorkspaceTokens(self.users, workspace_id),
            workspace_id=workspace_id,
        )

    def setup_code(self) -> str | None:
        """The one-time code first-run setup asks for, while no account exists (else None)."""
        return setup_codes.issue(self.users.db)

    def verify(self, name: str, password: str, address: str) -> User | None:
        """The user whose name and password these are, or ``None``, under the sign-in limit:
        the attempt is counted before the password is checked (``TooManyAttempts`` past it)."""
        reservation = self.throttle.reserve(name, address)
        user = self.users.verify(name, password)
        if user is not None:
            self.throttle.succeeded(reservation)
        return user

    def sign_in(self, name: str, password: str, address: str) -> tuple[str, Session]:
        """Check a name and password under the sign-in limit; a new session on success."""
        user = self.verify(name, password, address)
        if user is None:
            raise NotSignedIn(
                "The name or password is not right.",
                "Check both and try again; after several failures sign-in pauses for a while.",
            )
        return self.sessions.create(user)


def context_of(request: Request) -> WebContext:
    """The request's context, bound to the workspace it acts in (a FastAPI dependency).

    Built once per request; a request with nobody signed in, or signed in to no workspace, is
    bound to a workspace no row has, so it finds nothing."""
    state = request.scope.setdefault("state", {})
    bound = state.get("flitch_context")
    if isinstance(bound, WebContext):
        return bound
    ctx = request.app.state.flitch
    assert isinstance(ctx, WebContext)
    principal = state.get("principal")
    workspace_id = getattr(principal, "workspace_id", None) or NO_WORKSPACE
    bound = ctx.bound_to(workspace_id)
    state["flitch_context"] = bound
    return bound
