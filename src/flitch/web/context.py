"""Everything a request handler needs, built once per app by ``create_app`` (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from flitch import clock as clocks
from flitch.config import Settings
from flitch.connections.service import ConnectionService
from flitch.web import setup_code as setup_codes
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
    """The app's context (a FastAPI dependency)."""
    ctx = request.app.state.flitch
    assert isinstance(ctx, WebContext)
    return ctx
