"""Every route of the app, walked anonymously, as a viewer and as an admin.

The routes come from ``app.routes`` and each one's rule from ``flitch.web.access.ROUTES``, so a
route added later is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Route

from flitch.web.access import ROUTES, Access, access_of
from tests.web.conftest import Web

PARAM = re.compile(r"\{[^}]+\}")
#: a value for every path parameter; nothing of that name exists, which is fine: the point is
#: the refusal (401/403/redirect), which must come before any lookup.
SAMPLE = {"token_id": "987654", "name": "nobody-here", "connection": "conn_doesnotexist00"}


def concrete(path: str) -> str:
    return PARAM.sub(lambda m: SAMPLE.get(m.group(0)[1:-1].split(":")[0], "x"), path)


def walk(app: FastAPI) -> Iterator[tuple[str, str, str, Access]]:
    """(route name, method, concrete path, rule) for every method of every route."""
    for route in app.routes:
        if isinstance(route, Mount):
            yield route.name, "GET", f"{route.path}/app.css", access_of(route.name)
            continue
        assert isinstance(route, Route), route
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            yield route.name, method, concrete(route.path), access_of(route.name)


def refused_anonymously(response: object, path: str, method: str) -> bool:
    status = response.status_code  # type: ignore[attr-defined]
    if path.startswith("/api/"):
        return status == 401 and response.json()["error"] == "NotSignedIn"  # type: ignore[attr-defined]
    if method == "GET":
        location = response.headers.get("location", "")  # type: ignore[attr-defined]
        return status == 303 and location.startswith("/signin")
    return status in (401, 403)


def answered_by_the_route(response: object) -> bool:
    """Not refused by access control (the route may still answer 4xx on its own)."""
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    location = response.headers.get("location", "")  # type: ignore[attr-defined]
    return (
        status != 403
        and "You are not signed in." not in text
        and not location.startswith("/signin?")
    )


def test_every_route_has_a_rule(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    names = {route.name for route in app.routes}
    assert names == set(ROUTES), "ROUTES and the app's routes differ"
    assert len(list(walk(app))) >= len(ROUTES)


def test_a_route_without_a_rule_is_refused_at_build_time(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(ROUTES, "dashboards_page")
    with pytest.raises(RuntimeError, match="dashboards_page"):
        make_app()


def test_anonymous_requests_are_refused_everywhere_but_public_routes(admin_web: Web) -> None:
    anonymous = Web(admin_web.app)
    anonymous.page("/signin")  # gets the pre-sign-in anti-forgery cookie, as a browser would
    for name, method, path, rule in walk(admin_web.app):
        response = anonymous.api(method, path, json={})
        if rule is Access.PUBLIC:
            # Answered by the route itself (a failed sign-in is a 401 of its own).
            assert answered_by_the_route(response), (name, method, response.text)
        elif rule is Access.SETUP:
            # An account exists: first-run setup is closed.
            assert response.status_code in (303, 409), (name, method, response.status_code)
        else:
            assert refused_anonymously(response, path, method), (name, method, response.text)


def test_an_unknown_token_is_refused(admin_web: Web) -> None:
    stranger = Web(admin_web.app)
    bearer = {"Authorization": "Bearer flt_not-a-real-token-at-all"}
    for name, method, path, rule in walk(admin_web.app):
        if rule in (Access.PUBLIC, Access.SETUP):
            continue
        response = stranger.client.request(method, path, json={}, headers=bearer)
        assert response.status_code == 401, (name, method, response.status_code)


@pytest.mark.parametrize("via", ["session", "token"])
def test_viewers_are_refused_admin_routes_only(admin_web: Web, viewer_web: Web, via: str) -> None:
    headers = {}
    if via == "token":
        secret = viewer_web.api("POST", "/api/v1/tokens", {"label": "walk"}).json()["secret"]
        headers = {"Authorization": f"Bearer {secret}"}
    for name, method, path, rule in walk(viewer_web.app):
        if name == "signout" or (name, method) == ("api_change_password", "POST"):
            continue  # would end the session or change the password mid-walk
        response = viewer_web.api(method, path, json={}, headers=headers)
        status = response.status_code
        if rule in (Access.ADMIN, Access.INSTANCE_ADMIN):
            assert status == 403, (name, method, status)
            if path.startswith("/api/"):
                assert response.json()["error"] == "Forbidden"
        elif rule is Access.SETUP:
            assert status in (303, 409), (name, method, status)
        elif rule is Access.PUBLIC:
            assert answered_by_the_route(response), (name, method, status)
        else:
            assert status not in (401, 403), (name, method, status, response.text)


def test_admins_are_refused_nothing(admin_web: Web) -> None:
    for name, method, path, rule in walk(admin_web.app):
        if name in ("signout", "api_delete_user") or rule is Access.SETUP:
            continue
        if (name, method) == ("api_change_password", "POST"):
            continue
        response = admin_web.api(method, path, json={})
        if rule is Access.PUBLIC:
            assert answered_by_the_route(response), (name, method, response.text)
        else:
            assert response.status_code not in (401, 403), (name, method, response.text)


def test_while_no_user_exists_pages_lead_to_setup(make_app: Callable[..., FastAPI]) -> None:
    web = Web(make_app())
    for name, method, path, rule in walk(web.app):
        if method != "GET" or rule not in (Access.SIGNED_IN, Access.ADMIN, Access.INSTANCE_ADMIN):
            continue
        response = web.page(path)
        if path.startswith("/api/"):
            assert response.status_code == 401, name
        else:
            assert (response.status_code, response.headers["location"]) == (303, "/setup"), name


def test_a_route_added_after_the_check_fails_closed(admin_web: Web, viewer_web: Web) -> None:
    admin_web.app.add_api_route("/api/v1/late", lambda: {"late": True}, name="late_route")
    assert viewer_web.api("GET", "/api/v1/late").status_code == 403
    assert admin_web.api("GET", "/api/v1/late").json() == {"late": True}
