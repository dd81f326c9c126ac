"""The API's answers to requests of the wrong kind: a method an address does not answer (405
names those it does, in ``Allow``), and a body whose types are off (a boolean is not an integer,
nor an integer a boolean: refused, never converted)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.routing import Mount

from tests.web.conftest import Web

PROBE_METHODS = ("PUT", "PATCH", "DELETE", "POST", "GET")


def _concrete(path: str) -> str:
    """A route's path with a plain value in each parameter."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def _answers(app: Any, path: str) -> set[str]:
    """The methods some route of the app answers at ``path``."""
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, Mount) and path.startswith(route.path + "/"):
            methods |= {"GET", "HEAD"}
        elif isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= set(route.methods)
        elif not isinstance(route, Mount | APIRoute) and route.path_regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def test_405_names_every_method_the_address_answers(admin_web: Web) -> None:
    # Two routes share this path (PATCH and DELETE): Allow names both, not only the first.
    user = admin_web.api("PUT", "/api/v1/users/ada")
    assert user.status_code == 405
    assert set(user.headers["allow"].split(", ")) == {"PATCH", "DELETE"}
    me = admin_web.api("PUT", "/api/v1/me")
    assert (me.status_code, me.headers["allow"]) == (405, "GET")
    static = admin_web.api("POST", "/static/app.css")
    assert static.status_code == 405
    assert set(static.headers["allow"].split(", ")) == {"GET", "HEAD"}
    page = admin_web.api("DELETE", "/data")
    assert (page.status_code, page.headers["allow"]) == (405, "GET")


def test_every_405_carries_allow(admin_web: Web) -> None:
    app = admin_web.app
    # Once an account exists, /setup answers 409 to anything but a read, before any routing.
    paths = {_concrete(r.path) for r in app.routes if isinstance(r, APIRoute)} - {"/setup"}
    paths.add("/static/app.css")
    checked = 0
    for path in sorted(paths):
        answered = _answers(app, path)
        method = next(m for m in PROBE_METHODS if m not in answered)
        response = admin_web.api(method, path)
        assert response.status_code == 405, (method, path, response.status_code)
        assert set(response.headers["allow"].split(", ")) == answered, (method, path)
        checked += 1
    assert checked > 40


# -- booleans are not integers ------------------------------------------------------------------


def _models_of(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _models_of(arg)


def _leaves(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[tuple[str, Any]]:
    """Every field of a body model, nested models walked into, as (name, annotated type)."""
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        nested = list(_models_of(field.annotation))
        for inner in nested:
            yield from _leaves(inner, seen)
        if not nested:
            kind = field.annotation
            if field.metadata:
                kind = Annotated[(kind, *field.metadata)]
            yield f"{model.__name__}.{name}", kind


def _body_fields(app: Any) -> Iterator[tuple[str, Any]]:
    seen: set[type[BaseModel]] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            for model in _models_of(route.body_field.field_info.annotation):
                yield from _leaves(model, seen)


def _kept(annotation: Any, value: Any) -> Any:
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return None


def test_no_body_field_turns_a_boolean_into_a_number_or_back(admin_web: Web) -> None:
    converted = []
    fields = list(_body_fields(admin_web.app))
    for name, annotation in fields:
        for value in (False, True):
            result = _kept(annotation, value)
            if type(result) is int:
                converted.append(f"{name}: {value} -> {result}")
        for value in (0, 1, "true", "1"):
            result = _kept(annotation, value)
            if type(result) is bool or (isinstance(value, str) and type(result) is int):
                converted.append(f"{name}: {value!r} -> {result!r}")
    assert len(fields) > 20
    assert not converted, converted


@pytest.mark.parametrize("position", [False, True, "1", 1.0])
def test_a_boolean_position_is_refused(admin_web: Web, position: Any) -> None:
    made = admin_web.api("POST", "/api/v1/dashboards", {"name": "mine"})
    assert made.status_code == 201, made.text
    moved = admin_web.api("POST", "/api/v1/dashboards/mine/move", {"position": position})
    assert moved.status_code == 422, moved.text
    assert "position" in moved.json()["message"]
    fine = admin_web.api("POST", "/api/v1/dashboards/mine/move", {"position": 0})
    assert fine.status_code == 200, fine.text
