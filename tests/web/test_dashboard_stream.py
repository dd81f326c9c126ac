"""The streamed dashboard (``GET …/dashboards/{name}/stream``): JSON lines of a progressive
load whose last event is the complete answer the plain GET gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from flitch.dashboards import BUILTIN
from flitch.emulator.server import Emulator
from tests.conftest import TEST_KEY
from tests.web.conftest import Web
from tests.web.dashboards_support import (
    board,
    conn_id,
    dashboards_app,
    signed_in_admin,
    without_provenance,
)


@pytest.fixture
def admin(tmp_path: Path, emulator: Emulator) -> Iterator[Web]:
    with dashboards_app(tmp_path, emulator) as app:
        yield signed_in_admin(app)


def stream(web: Web, name: str, **params: str) -> list[dict[str, Any]]:
    path = f"/api/v1/connections/{conn_id(web)}/dashboards/{name}/stream"
    answer = web.api("GET", path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in answer.text.splitlines() if line]


@pytest.mark.parametrize("name", ["payments", "billing", "retention"])
def test_the_stream_ends_with_the_plain_answer(admin: Web, name: str) -> None:
    events = stream(admin, name, last="30d")
    assert events[0]["event"] == "plan"
    assert events[0]["source"] == "live"
    assert [c["id"] for c in events[0]["charts"]] == [c.id for c in BUILTIN[name].charts]
    assert all(c["waiting"] for c in events[0]["charts"])
    charts = [e["chart"] for e in events if e["event"] == "chart"]
    assert sorted(c["id"] for c in charts) == sorted(c.id for c in BUILTIN[name].charts)
    done = events[-1]
    assert done["event"] == "done"
    assert done["connection"]["id"] == conn_id(admin)
    plain = board(admin, name, last="30d")
    assert without_provenance(done) == {"event": "done", **without_provenance(plain)}
    assert done["data"]["reads"] == plain["data"]["reads"]


def test_a_problem_ends_the_stream_with_its_fix(admin: Web, emulator: Emulator) -> None:
    emulator.config.keys.pop(TEST_KEY)  # the key was deleted in Stripe
    events = stream(admin, "payments", last="30d")
    assert events[-1]["event"] == "error"
    assert events[-1]["status"] == 422
    assert events[-1]["problem"]["fix"]
    # remembered where the pages show it, as a plain load's refusal is
    shop = admin.app.state.flitch.connections.get("shop")
    assert shop.last_test is not None
    assert not shop.last_test.authenticated


def test_an_unknown_dashboard_is_a_404_before_any_read(admin: Web) -> None:
    answer = admin.api("GET", f"/api/v1/connections/{conn_id(admin)}/dashboards/nope/stream")
    assert answer.status_code == 404
