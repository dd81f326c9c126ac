"""The seed's troubleshooting, shown where the problem is: on the connection, or on the dataset.

Three problems have a name and a standard fix (the seed's "Troubleshooting" section):

- **Authentication failed**: the key was deleted or rolled in Stripe;
- **Missing resources**: the key lacks Read on an object;
- **No data in one mode**: a test key sees only test data, a live key only live data.

Each is a :class:`Problem` (a title, what happened, the fix, and where to act); the functions
below find the problems of a connection, of one of its datasets, and of an error a test, a
refresh or a live query raised. Pages and the JSON API show the same problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flitch import catalog
from flitch.connections.records import ConnectionInfo, DatasetInfo, DatasetStatus
from flitch.errors import AuthenticationFailed, FlitchError, PermissionMissing

STRIPE_KEYS_URL = "https://dashboard.stripe.com/apikeys"

AUTH_FAILED_FIX = (
    "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
    "connection."
)
MISSING_EXPLAINED = "A resource returns nothing if you did not grant it Read on the key."
NO_DATA_EXPLAINED = (
    "A rk_test_… key only sees test-mode data and a rk_live_… key only sees live data. Use the "
    "key for the mode you want to chart."
)


class ProblemKind(StrEnum):
    AUTHENTICATION_FAILED = "authentication_failed"
    MISSING_RESOURCE = "missing_resource"
    NO_DATA_IN_MODE = "no_data_in_mode"
    #: anything else (Stripe unreachable, a failed refresh…): its own message and fix
    OTHER = "other"


TITLES = {
    ProblemKind.AUTHENTICATION_FAILED: "Authentication failed",
    ProblemKind.MISSING_RESOURCE: "Missing resources",
    ProblemKind.NO_DATA_IN_MODE: "No data in one mode",
    ProblemKind.OTHER: "Something went wrong",
}


@dataclass(frozen=True)
class Problem:
    """A problem to show in place: what it is, what happened, and what to do."""

    kind: ProblemKind
    message: str
    fix: str
    #: where the fix is done (Stripe's API keys page), if anywhere outside Flitch
    link: str | None = None

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "message": self.message,
            "fix": self.fix,
            "link": self.link,
        }


def authentication_failed(message: str | None = None) -> Problem:
    return Problem(
        ProblemKind.AUTHENTICATION_FAILED,
        message or "Stripe does not accept this connection's key.",
        AUTH_FAILED_FIX,
        STRIPE_KEYS_URL,
    )


def missing_resource(labels: list[str]) -> Problem:
    """The key lacks Read on the objects labelled ``labels`` (Stripe's permission labels)."""
    grants = ", ".join(labels)
    return Problem(
        ProblemKind.MISSING_RESOURCE,
        MISSING_EXPLAINED,
        f"Edit the key in Stripe and grant {grants} on it, then test the connection again.",
        STRIPE_KEYS_URL,
    )


def no_data(mode: str, what: str = "This dataset") -> Problem:
    return Problem(
        ProblemKind.NO_DATA_IN_MODE,
        f"{what} has no records in {mode} mode.",
        NO_DATA_EXPLAINED,
    )


def of_error(error: FlitchError, mode: str | None = None) -> Problem:
    """The problem an error of a test, a refresh or a live query is an instance of."""
    if isinstance(error, AuthenticationFailed):
        return authentication_failed(error.message)
    if isinstance(error, PermissionMissing):
        return missing_resource([error.permission_label])
    return Problem(ProblemKind.OTHER, error.message, error.fix)


def of_connection(conn: ConnectionInfo) -> list[Problem]:
    """The problems of a connection as a whole, most serious first."""
    problems: list[Problem] = []
    test = conn.last_test
    if test is not None and not test.authenticated:
        problems.append(authentication_failed(test.message))
        return problems  # nothing else can be known while the key is refused
    blocked = [catalog.get(d.object).permission_label for d in conn.blocked]
    if blocked:
        problems.append(missing_resource(blocked))
    run = conn.last_run
    if run is not None and run.error and run.outcome.value in ("failed", "partial"):
        problems.append(Problem(ProblemKind.OTHER, run.error, run.fix or "Run the refresh again."))
    refreshed = [d for d in conn.datasets if d.rows is not None and d.status is DatasetStatus.OK]
    if refreshed and all(d.rows == 0 for d in refreshed):
        problems.append(no_data(conn.mode, "None of the datasets"))
    return problems


def of_dataset(conn: ConnectionInfo, dataset: DatasetInfo) -> Problem | None:
    """What is wrong with one dataset of a connection, if anything."""
    test = conn.last_test
    if test is not None and not test.authenticated:
        return authentication_failed(test.message)
    if dataset.status is DatasetStatus.MISSING_PERMISSION:
        label = catalog.get(dataset.object).permission_label
        problem = missing_resource([label])
        return Problem(problem.kind, dataset.reason or problem.message, problem.fix, problem.link)
    if dataset.status is DatasetStatus.FAILED:
        return Problem(
            ProblemKind.OTHER,
            dataset.reason or "The last test or refresh of this dataset failed.",
            dataset.fix or "Test the connection again, or run a refresh.",
        )
    if dataset.rows == 0 and conn.refresh_every is not None:
        return no_data(conn.mode)
    return None
