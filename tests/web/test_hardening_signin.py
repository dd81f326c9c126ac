"""The sign-in limit holds when the attempts come all at once: each attempt is counted before its
password is checked, in one transaction of the metadata database, so neither threads of one
server nor several servers sharing one FLITCH_HOME verify more passwords than the limit."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from flitch.web.throttle import Limits
from flitch.web.userdb import db_path
from flitch.web.users import Role, UserStore
from tests.web.conftest import ADMIN, Web, cheap_hasher, serve_in_thread
from tests.web.hardening_support import CountingHasher

ROOT = Path(__file__).resolve().parents[2]


def attempt_all_at_once(urls: list[str], logins: list[tuple[str, str]]) -> list[int]:
    """Send each sign-in (name, password) from its own client, all released at one instant; the
    attempts go to ``urls`` in turn. Returns the status of each answer."""
    barrier = threading.Barrier(len(logins))
    statuses: list[int] = [0] * len(logins)

    def one(n: int) -> None:
        name, password = logins[n]
        with httpx.Client(base_url=urls[n % len(urls)], timeout=60) as client:
            form = client.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token, form.text
            data = {"name": name, "password": password, "csrf_token": token.group(1)}
            barrier.wait()
            statuses[n] = client.post("/signin", data=data).status_code

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(logins))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    server, stop = serve_in_thread(app)
    try:
        yield server.url
    finally:
        stop()


def test_fifty_attempts_at_once_verify_at_most_the_limit(
    make_app: Callable[..., FastAPI],
) -> None:
    hasher = CountingHasher()
    app = make_app(password_hasher=hasher)
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    with served(app) as url:
        statuses = attempt_all_at_once([url], [(ADMIN[0], "not the password")] * 50)
    assert hasher.verified <= Limits().per_user, f"{hasher.verified} passwords verified"
    assert statuses.count(401) == hasher.verified
    assert statuses.count(429) == 50 - hasher.verified


def test_sixty_names_at_once_from_one_address_verify_at_most_the_limit(
    make_app: Callable[..., FastAPI],
) -> None:
    hasher = CountingHasher()
    app = make_app(password_hasher=hasher)
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    logins = [(f"guess{n}", "not the password") for n in range(60)]
    with served(app) as url:
        statuses = attempt_all_at_once([url], logins)
    assert hasher.verified <= Limits().per_address, f"{hasher.verified} passwords verified"
    assert statuses.count(429) == 60 - hasher.verified


def test_two_servers_on_one_home_verify_at_most_the_limit_together(tmp_path: Path) -> None:
    home = tmp_path / "home"
    UserStore(db_path(home), hasher=cheap_hasher()).add(*ADMIN, Role.ADMIN)
    log = tmp_path / "verified.log"
    with ExitStack() as stack:
        urls = []
        for _ in range(2):
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.web.hardening_support", str(home), str(log)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            stack.callback(process.wait, 30)
            stack.callback(process.stdin.close)  # type: ignore[union-attr]
            assert process.stdout is not None
            urls.append(process.stdout.readline().strip())
        assert all(u.startswith("http://127.0.0.1:") for u in urls), urls
        statuses = attempt_all_at_once(urls, [(ADMIN[0], "not the password")] * 50)
    verified = len(log.read_text().splitlines()) if log.exists() else 0
    assert verified <= Limits().per_user, f"{verified} passwords verified by two servers"
    assert statuses.count(401) == verified
    assert statuses.count(429) == 50 - verified


def test_guessing_the_current_password_from_a_session_is_limited_too(admin_web: Web) -> None:
    change = {"current_password": "a guess at it", "new_password": "a new password 1"}
    for _ in range(Limits().per_user):
        assert admin_web.api("POST", "/api/v1/me/password", change).status_code == 400
    limited = admin_web.api("POST", "/api/v1/me/password", change)
    assert limited.status_code == 429
    assert "Try again in 15 minutes." in limited.json()["fix"]
