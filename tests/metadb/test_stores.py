"""The web app's and the dashboards' stores on each engine: users, sessions, API tokens, the
sign-in limit, the setup code and user-made dashboards behave the same in SQLite and in
PostgreSQL, and two stores opened on one database (two replicas) see each other's writes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from flitch.dashboards.model import Chart, ChartType, Dashboard
from flitch.dashboards.storage import DashboardStore
from flitch.errors import InputError, NotFound
from flitch.metadb import Database, open_database
from flitch.web import setup_code
from flitch.web.errors import Conflict, TooManyAttempts
from flitch.web.sessions import IDLE_LIMIT, SessionStore
from flitch.web.throttle import Limits, SignInThrottle
from flitch.web.users import Role, UserStore

NOW = 1_800_000_000.0


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def db(tmp_path: Path, database_url: str | None) -> Database:
    return open_database(tmp_path, database_url)


@pytest.fixture
def replica(tmp_path: Path, database_url: str | None) -> Database:
    """A second opening of the same database, as another process would have."""
    return open_database(tmp_path, database_url)


def test_users_and_tokens(db: Database) -> None:
    users = UserStore(db, clock=lambda: NOW, hasher=cheap())
    code = setup_code.issue(db)
    assert code is not None
    assert setup_code.matches(db, code)
    ada = users.add("Ada", "correct horse battery", Role.ADMIN, only_if_none=True, code=code)
    assert setup_code.issue(db) is None  # an account exists: the code has served
    with pytest.raises(Conflict):
        users.add("ADA", "another password", Role.VIEWER)
    users.add("bob", "another password", Role.VIEWER)
    assert [u.name for u in users.list_users()] == ["Ada", "bob"]
    assert users.get("ada").id == ada.id
    assert users.verify("ada", "correct horse battery") == ada
    assert users.verify("ada", "wrong password!") is None
    token, secret = users.create_token("ada", "nightly export")
    assert users.user_for_token(secret, address="10.0.0.9") == ada
    assert users.list_tokens()[0].last_used_from == "10.0.0.9"
    assert users.token_counts() == {ada.id: 1}
    with pytest.raises(Conflict, match="only admin"):
        users.set_role("ada", Role.VIEWER)
    _, revoked = users.set_role("bob", Role.ADMIN, revoke_tokens=True)
    assert revoked == 0
    assert users.set_password("ada", "a new long password", revoke_tokens=True) == 1
    assert users.user_for_token(secret) is None
    users.delete("bob")
    with pytest.raises(NotFound):
        users.get("bob")
    assert token.id > 0


def test_a_session_made_on_one_replica_is_valid_on_the_other(
    db: Database, replica: Database
) -> None:
    now = [NOW]
    users = UserStore(db, clock=lambda: now[0], hasher=cheap())
    ada = users.add("ada", "correct horse battery", Role.ADMIN)
    secret, _ = SessionStore(db, clock=lambda: now[0]).create(ada)
    other = SessionStore(replica, clock=lambda: now[0])
    found = other.lookup(secret)
    assert found is not None
    assert found.user == ada
    assert other.count(ada) == 1
    now[0] += IDLE_LIMIT + 1
    assert other.lookup(secret) is None  # idle too long: ended everywhere
    assert SessionStore(db, clock=lambda: now[0]).count(ada) == 0


def test_the_sign_in_limit_counts_across_replicas_and_threads(
    db: Database, replica: Database
) -> None:
    """Forty attempts at once, half through each replica: exactly the limit get through."""
    limits = Limits(per_user=5, per_address=100, window=900.0)
    stores = [SignInThrottle(d, limits, clock=lambda: NOW) for d in (db, replica)]
    barrier = threading.Barrier(40)
    granted: list[int] = []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            stores[n % 2].reserve("ada", f"10.0.0.{n}")
        except TooManyAttempts:
            return
        granted.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5
    with pytest.raises(TooManyAttempts):
        stores[0].reserve("ada", "10.0.0.200")


def test_a_success_gives_its_attempt_back(db: Database) -> None:
    throttle = SignInThrottle(db, Limits(per_user=2, per_address=10), clock=lambda: NOW)
    first = throttle.reserve("ada", "10.0.0.1")
    throttle.reserve("ada", "10.0.0.1")
    with pytest.raises(TooManyAttempts):
        throttle.reserve("ada", "10.0.0.1")
    throttle.succeeded(first)  # clears the account's failures
    throttle.reserve("ada", "10.0.0.1")


def test_dashboards(db: Database, replica: Database) -> None:
    store = DashboardStore(db)
    mrr = Chart(title="MRR", type=ChartType.NUMBER, metric="mrr")
    store.create(Dashboard(name="ops", title="Ops", charts=(mrr,)))
    store.create(Dashboard(name="sales", title="Sales", charts=(mrr,)))
    with pytest.raises(InputError, match="already exists"):
        store.create(Dashboard(name="ops", title="again", charts=()))
    other = DashboardStore(replica)
    assert [d.name for d in other.all()] == ["ops", "sales"]
    assert other.get("OPS").title == "Ops"  # looked up without case, as before
    assert other.move("sales", 0) == ["sales", "ops"]
    store.save("ops", Dashboard(name="ops", title="Operations", charts=(mrr, mrr)))
    assert [d.title for d in other.all()] == ["Sales", "Operations"]
    other.delete("Ops")
    assert [d.name for d in store.all()] == ["sales"]
