"""Answers in the right format: JSON under ``/api/``, HTML pages elsewhere.

Templates are rendered with what every page needs (the signed-in user, the anti-forgery token,
the version), and an error becomes either the API's JSON body (``FlitchError.to_dict()``) or an
error page saying what to do next. Neither ever carries a traceback.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from flitch import __version__
from flitch.errors import FlitchError
from flitch.web.errors import TooManyAttempts, status_for

API_PREFIX = "/api/"


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("flitch.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    return env


class Renderer:
    """Renders pages and errors with one Jinja environment."""

    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or make_environment()

    def page(
        self, request: Request, template: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        state = request.scope.get("state", {})
        full = {
            "request": request,
            "principal": state.get("principal"),
            "csrf_token": state.get("csrf_token", ""),
            "path": request.url.path,
            **context,
        }
        html = self.env.get_template(template).render(full)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, error: FlitchError, status: int | None = None) -> Response:
        code = status or status_for(error)
        headers = {}
        if isinstance(error, TooManyAttempts):
            headers["Retry-After"] = str(int(error.retry_after) + 1)
        if is_api(request.url.path):
            return JSONResponse(error.to_dict(), status_code=code, headers=headers)
        response = self.page(request, "error.html", {"error": error, "status": code}, code)
        response.headers.update(headers)
        return response
