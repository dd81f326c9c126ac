"""Everything a request handler needs, built once per app by ``create_app`` (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.web.errors import NotSignedIn
from flitch.web.queries import DatasetQueries
from flitch.web.refreshes import RefreshJobs
from flitch.web.render import Renderer
from flitch.web.sessions import Session, SessionStore
from flitch.web.throttle import SignInThrottle
from flitch.web.users import User, UserStore


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
    refreshes: RefreshJobs
    clock: Callable[[], float] = clocks.now

    def sign_in(self, name: str, password: str, address: str) -> tuple[str, Session]:
        """Check a name and password under the sign-in limit; a new session on success."""
        self.throttle.check(name, address)
        user: User | None = self.users.verify(name, password)
        if user is None:
            self.throttle.record_failure(name, address)
            raise NotSignedIn(
                "The name or password is not right.",
                "Check both and try again; after several failures sign-in pauses for a while.",
            )
        self.throttle.clear_user(name)
        return self.sessions.create(user)


def context_of(request: Request) -> WebContext:
    """The app's context (a FastAPI dependency)."""
    ctx = request.app.state.flitch
    assert isinstance(ctx, WebContext)
    return ctx
