"""Schemathesis over workspace A's ids with workspace B's API token: every operation of the
OpenAPI document, its generated input with each path parameter that names an object replaced
by A's (connection, dashboard, chart, token, refresh), answers without a server error, never
with success on A's object, and never with A's data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web import create_app
from flitch.web.users import Role
from tests.conftest import TEST_KEY
from tests.web.conftest import ADMIN, cheap_hasher, serve_in_thread

EXAMPLES = 6
BEA = ("bea", "bea's own password")


class Walls:
    """The live app, A's objects and B's token."""

    def __init__(self, url: str, a: dict[str, str], b_token: str) -> None:
        self.url = url
        self.a = a
        self.b_headers = {"Authorization": f"Bearer {b_token}"}

    def markers(self) -> list[str]:
        return [self.a["connection"], "Alpha Shop", "Alpha board title", self.a["job_id"]]


@pytest.fixture(scope="module")
def walls(
    tmp_path_factory: pytest.TempPathFactory, _shared_tiny_emulator: Emulator
) -> Iterator[Walls]:
    web_settings = Settings(
        home=tmp_path_factory.mktemp("walls") / "home",
        stripe_api_base=_shared_tiny_emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    app = create_app(web_settings, password_hasher=cheap_hasher())
    ctx = app.state.flitch
    ctx.users.add(*ADMIN, Role.ADMIN)
    bea = ctx.users.add(*BEA, Role.VIEWER, workspace_id=None)
    beta = ctx.workspaces.create("Beta", owner_id=bea.id)
    server, stop = serve_in_thread(app)
    a_secret = ctx.users.create_token(ADMIN[0], "alpha")[1]
    a = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {a_secret}"})
    made = a.post("/api/v1/connections", json={"name": "Alpha Shop", "key": TEST_KEY})
    assert made.status_code == 201, made.text
    connection = made.json()["connection"]["id"]
    job = a.post(f"/api/v1/connections/{connection}/refresh").json()["id"]
    deadline = time.monotonic() + 60
    while a.get(f"/api/v1/refreshes/{job}").json()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    a.post("/api/v1/dashboards", json={"name": "alpha-board", "title": "Alpha board title"})
    chart = a.post(
        "/api/v1/dashboards/alpha-board/charts",
        json={"chart": {"title": "Alpha fees", "type": "line", "metric": "fees"}},
    )
    objects = {
        "connection": connection,
        "name": "alpha-board",
        "chart_id": chart.json()["charts"][0]["id"],
        "token_id": str(ctx.users.list_tokens()[0].id),
        "job_id": job,
    }
    b_secret = ctx.users.create_token(BEA[0], "beta", workspace_id=beta.id)[1]
    yield Walls(server.url, objects, b_secret)
    a.close()
    stop()
    ctx.connections.close()


def test_b_token_fuzzed_over_a_ids(walls: Walls) -> None:
    document = httpx.get(f"{walls.url}/api/v1/openapi.json", headers=walls.b_headers).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    named = [o for o in operations if set(walls.a) & {p.name for p in o.path_parameters}]
    assert len(named) >= 20
    statuses: list[int] = []
    for operation in named:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            for key in list(case.path_parameters or {}):
                if key in walls.a:
                    case.path_parameters[key] = walls.a[key]
            response = case.call(base_url=walls.url, headers=walls.b_headers)
            where = f"{case.method} {case.formatted_path}"
            statuses.append(response.status_code)
            assert response.status_code < 500, (where, response.text)
            assert response.status_code >= 400, (where, response.status_code, response.text)
            for marker in walls.markers():
                if marker not in case.formatted_path:
                    assert marker not in response.text, (where, marker)

        fuzz()
    # most answers are the lookup's 404; the rest were refused for their input's shape first
    assert statuses.count(404) > len(statuses) / 2, sorted(set(statuses))
