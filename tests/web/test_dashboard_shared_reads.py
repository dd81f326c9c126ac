"""Two people opening the same live dashboard at once share its Stripe reads.

``flitch serve`` is one process: every request's live load runs on the app's one query engine,
whose identical reads in flight are one fetch (``flitch.query.live``). Here a real server
(uvicorn, over HTTP) gets two streamed loads of one dashboard at the same moment; the
emulator's log then holds each Stripe request once, and as many as one load alone makes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from flitch.emulator.server import Emulator
from tests.web.conftest import LiveServer, serve_in_thread
from tests.web.dashboards_support import dashboards_app, signed_in_admin


@pytest.fixture
def served(tmp_path: Path, emulator: Emulator) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    with dashboards_app(tmp_path, emulator) as app:
        web = signed_in_admin(app)
        cookies = {c.name: c.value for c in web.client.cookies.jar}
        server, stop = serve_in_thread(app)
        try:
            yield server, cookies
        finally:
            stop()


def load(server: LiveServer, cookies: dict[str, str], path: str) -> list[dict[str, Any]]:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    with httpx.Client(base_url=server.url, timeout=60) as client:
        answer = client.get(path, params={"last": "30d"}, headers={"Cookie": header})
    assert answer.status_code == 200, answer.text
    return [orjson.loads(line) for line in answer.text.splitlines() if line]


def conn_id_of(server: LiveServer) -> str:
    return str(server.app.state.flitch.connections.get("shop").id)


def stripe_requests(emulator: Emulator) -> list[tuple[str, str]]:
    return [(e.path, e.query) for e in emulator.log.entries if e.path.startswith("/v1/")]


def test_two_viewers_at_once_read_each_list_once(
    served: tuple[LiveServer, dict[str, str]], emulator: Emulator
) -> None:
    server, cookies = served
    path = f"/api/v1/connections/{conn_id_of(server)}/dashboards/billing/stream"
    # each page takes long enough that the second load asks while the first still reads
    emulator.config.latency_ms = 600
    emulator.log.clear()
    alone = load(server, cookies, path)
    one_load = stripe_requests(emulator)
    emulator.log.clear()

    answers: list[list[dict[str, Any]]] = []
    start = threading.Barrier(2)

    def viewer() -> None:
        start.wait()
        answers.append(load(server, cookies, path))

    threads = [threading.Thread(target=viewer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    both = stripe_requests(emulator)

    assert len(answers) == 2
    for events in answers:
        assert events[-1]["event"] == "done"
        assert events[-1]["metrics"] == alone[-1]["metrics"]
    # no request was made twice: every list was read once for the two of them
    twice = [request for request, n in Counter(both).items() if n > 1]
    assert not twice, (twice, len(both), len(one_load))
    assert {p for p, _ in both} == {p for p, _ in one_load}
    # and the two loads together cost what one costs (give or take how a list was cut)
    assert len(both) <= len(one_load) * 1.2, (both, one_load)
