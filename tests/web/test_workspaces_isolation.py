"""Two workspaces side by side: every route, with workspace A's object ids, asked by workspace
B's admin and viewer (by session and by API token) answers 404 — never A's data, never a hint
that the object exists — on SQLite and on PostgreSQL.

Workspace A (the default) holds a connection refreshed once (so it has a cache, runs and a
refresh job), a user dashboard with a chart and an API token. Workspace B is made for its own
owner, who invites a viewer with a one-time code. The route list comes from the app itself
(``tests.web.test_access.walk``), so a route added later is walked too.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from flitch.config import Settings
from flitch.web.access import Access
from flitch.web.users import Role
from tests.conftest import TEST_KEY
from tests.web.conftest import ADMIN, Web
from tests.web.test_access import PARAM, walk

BEA = ("bea", "bea's own password")
BOB = ("bob", "bob's own password")
#: routes that would end the walker's session or change its password
SKIPPED = {"signout", "api_change_password"}
_CHART = {"title": "B's chart", "type": "line", "metric": "fees"}
#: a well-formed body for the routes that change something, so that what answers is the
#: lookup of A's object, not the check of the body's shape (which comes first, for any id)
BODIES: dict[str, Any] = {
    "api_save_dashboard": {"name": "alpha-board", "title": "Taken over"},
    "api_add_chart": {"chart": _CHART},
    "api_replace_chart": _CHART,
    "api_order_charts": {"order": []},
    "api_copy_dashboard": {"name": "b-copy"},
    "api_move_dashboard": {"position": 0},
    "api_update_connection": {"refresh": "off"},
    "api_test_objects": {"objects": ["customers"]},
    "api_update_member": {"role": "viewer"},
}
#: the query a route needs before it looks anything up
QUERIES = {
    "api_drill_rows": "?dashboard=alpha-board&chart=alpha-fees"
    "&start=2024-01-01T00:00:00Z&end=2024-02-01T00:00:00Z",
}
#: path parameters that name an object of workspace A
A_OBJECTS = {"connection", "connection_id", "token_id", "job_id", "name", "chart_id"}


@dataclasses.dataclass
class WorkspaceA:
    connection: str
    dashboard: str
    chart: str
    token_id: int
    token_prefix: str
    job: str
    customer: str

    def values(self) -> dict[str, str]:
        return {
            "connection": self.connection,
            "connection_id": self.connection,
            "name": self.dashboard,
            "chart_id": self.chart,
            "token_id": str(self.token_id),
            "job_id": self.job,
            "dataset": "customers",
            "customer": self.customer,
            "currency": "usd",
            "cohort": "2024-01-01",
            "k": "1",
            "movement": "new",
        }

    def markers(self) -> list[str]:
        """Strings only A's data holds: none may appear in any answer B gets."""
        return [
            self.connection,
            "Alpha Shop",
            self.dashboard,
            "Alpha board title",
            self.token_prefix,
            self.job,
            self.customer,
        ]


@pytest.fixture
def two_workspaces(
    web_settings: Settings, database_url: str | None, make_app: Callable[..., FastAPI]
) -> tuple[Web, WorkspaceA, Web, Web]:
    settings = dataclasses.replace(web_settings, database_url=database_url)
    ada = Web(make_app(settings))
    assert ada.setup().status_code == 303
    ada.page("/data")
    made = ada.api("POST", "/api/v1/connections", {"name": "Alpha Shop", "key": TEST_KEY})
    assert made.status_code == 201, made.text
    connection = made.json()["connection"]["id"]
    job = ada.api("POST", f"/api/v1/connections/{connection}/refresh").json()["id"]
    deadline = time.monotonic() + 60
    while ada.api("GET", f"/api/v1/refreshes/{job}").json()["state"] == "running":
        assert time.monotonic() < deadline, "the refresh did not end"
        time.sleep(0.1)
    rows = ada.api("GET", f"/api/v1/connections/{connection}/datasets/customers/rows").json()
    customer = rows["rows"][0][[c["name"] for c in rows["columns"]].index("id")]
    board = ada.api(
        "POST", "/api/v1/dashboards", {"name": "alpha-board", "title": "Alpha board title"}
    )
    assert board.status_code == 201, board.text
    chart = ada.api(
        "POST",
        "/api/v1/dashboards/alpha-board/charts",
        {"chart": {"title": "Alpha fees", "type": "line", "metric": "fees"}},
    )
    assert chart.status_code in (200, 201), chart.text
    chart_id = chart.json()["charts"][0]["id"]
    token = ada.api("POST", "/api/v1/tokens", {"label": "alpha script"}).json()
    a = WorkspaceA(
        connection=connection,
        dashboard="alpha-board",
        chart=chart_id,
        token_id=token["token"]["id"],
        token_prefix=token["secret"][:12],
        job=job,
        customer=customer,
    )
    # Workspace B: an owner made by the instance's admin, who invites a viewer with a code.
    ctx = ada.app.state.flitch
    bea_user = ctx.users.add(*BEA, Role.VIEWER, workspace_id=None)
    ctx.users.add(*BOB, Role.VIEWER, workspace_id=None)
    ctx.workspaces.create("Beta", owner_id=bea_user.id)
    bea, bob = Web(ada.app), Web(ada.app)
    bea.sign_in(*BEA)
    code = bea.api("POST", "/api/v1/workspace/invitations", {"role": "viewer"})
    assert code.status_code == 201, code.text
    bob.sign_in(*BOB)
    joined = bob.api("POST", "/api/v1/workspaces/join", {"code": code.json()["code"]})
    assert joined.status_code == 200, joined.text
    assert bob.api("GET", "/api/v1/me").json()["workspace"]["name"] == "Beta"
    return ada, a, bea, bob


def concrete(path: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values.get(m.group(0)[1:-1].split(":")[0], "x"), path)


def params(path: str) -> set[str]:
    return {m.split(":")[0] for m in re.findall(r"\{([^}]+)\}", path)}


@pytest.mark.parametrize("who", ["admin", "viewer"])
@pytest.mark.parametrize("via", ["session", "token"])
def test_workspace_b_never_sees_workspace_a(
    two_workspaces: tuple[Web, WorkspaceA, Web, Web], who: str, via: str
) -> None:
    ada, a, bea, bob = two_workspaces
    web = bea if who == "admin" else bob
    headers: dict[str, str] = {}
    if via == "token":
        secret = web.api("POST", "/api/v1/tokens", {"label": "walk"}).json()["secret"]
        headers = {"Authorization": f"Bearer {secret}"}
    values = a.values()
    walked = 0
    for route in web.app.routes:
        path = getattr(route, "path", "")
        if getattr(route, "name", "") in SKIPPED:
            continue
        for name, method, _, rule in walk_one(web.app, route):
            url = concrete(path, values) + QUERIES.get(name, "")
            response = web.api(method, url, json=BODIES.get(name, {}), headers=headers)
            walked += 1
            for marker in a.markers():
                if marker in url:  # an id the request sent may be named back (a 404 says which)
                    continue
                assert marker not in response.text, (name, method, url, marker)
            if rule in (Access.PUBLIC, Access.SETUP) or not params(path) & A_OBJECTS:
                continue
            refused_by_role = (rule is Access.ADMIN and who == "viewer") or (
                rule is Access.INSTANCE_ADMIN
            )
            expected = {403} if refused_by_role else {404}
            assert response.status_code in expected, (name, method, url, response.text)
    assert walked >= 70
    # Nothing of A changed: its connection, dashboard and token are as they were.
    assert ada.api("GET", f"/api/v1/connections/{a.connection}").status_code == 200
    board = ada.api("GET", f"/api/v1/dashboards/{a.dashboard}").json()
    assert [c["id"] for c in board["charts"]] == [a.chart]
    assert a.token_id in [t["id"] for t in ada.api("GET", "/api/v1/tokens").json()]


def walk_one(app: FastAPI, route: Any) -> list[tuple[str, str, str, Access]]:
    return [w for w in walk(app) if w[0] == route.name and w[2] is not None]


def test_lists_show_each_workspace_its_own(
    two_workspaces: tuple[Web, WorkspaceA, Web, Web],
) -> None:
    ada, a, bea, bob = two_workspaces
    assert [c["id"] for c in ada.api("GET", "/api/v1/connections").json()] == [a.connection]
    for web in (bea, bob):
        assert web.api("GET", "/api/v1/connections").json() == []
        names = [d["name"] for d in web.api("GET", "/api/v1/dashboards").json()]
        assert a.dashboard not in names
        assert web.api("GET", "/api/v1/tokens").json() == [] or all(
            t["label"] != "alpha script" for t in web.api("GET", "/api/v1/tokens").json()
        )
    # B's owner makes a connection of the same name: names are per workspace.
    same = bea.api("POST", "/api/v1/connections", {"name": "alpha shop", "key": TEST_KEY})
    assert same.status_code == 201, same.text
    b_connection = same.json()["connection"]["id"]
    assert b_connection != a.connection
    # its cache is a folder of B's: a refresh there writes nothing beside A's cache
    job = bea.api("POST", f"/api/v1/connections/{b_connection}/refresh").json()["id"]
    deadline = time.monotonic() + 60
    while bea.api("GET", f"/api/v1/refreshes/{job}").json()["state"] == "running":
        assert time.monotonic() < deadline, "the refresh did not end"
        time.sleep(0.1)
    service = ada.app.state.flitch.connections
    beta = bea.api("GET", "/api/v1/me").json()["workspace"]["id"]
    home = service.home
    assert service.cache_dir(b_connection) == home / "cache" / beta / b_connection
    assert service.cache_dir(a.connection) == home / "cache" / a.connection
    assert any(service.cache_dir(b_connection).iterdir())
    assert any(service.cache_dir(a.connection).iterdir())
    assert [c["id"] for c in ada.api("GET", "/api/v1/connections").json()] == [a.connection]
    # the admin of the instance (A's owner) sees only A unless they join B
    members = bea.api("GET", "/api/v1/workspace/members").json()
    assert sorted(m["name"] for m in members) == ["bea", "bob"]
    assert ADMIN[0] not in [m["name"] for m in members]


def test_the_instance_admin_sees_usage_never_data(
    two_workspaces: tuple[Web, WorkspaceA, Web, Web],
) -> None:
    ada, a, bea, _ = two_workspaces
    usage = ada.api("GET", "/api/v1/workspaces/usage")
    assert usage.status_code == 200, usage.text
    by_name = {u["name"]: u for u in usage.json()}
    assert by_name["default"]["connections"] == 1
    assert by_name["default"]["rows"] > 0
    assert by_name["default"]["stripe_requests"] > 0
    assert by_name["default"]["last_refresh_at"] is not None
    assert (by_name["Beta"]["members"], by_name["Beta"]["connections"]) == (2, 0)
    for marker in a.markers():
        assert marker not in usage.text
    assert bea.api("GET", "/api/v1/workspaces/usage").status_code == 403
    page = ada.page("/users")
    assert "data-workspace-usage" in page.text
    assert "<td>Beta</td>" in page.text
    for marker in a.markers():
        assert marker not in page.text
