"""The web app: pages and the JSON API, built by :func:`flitch.web.app.create_app`.

``create_app`` is imported on first use, so the modules of this package that need no web
framework (the users' store, for ``flitch users``) load without FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flitch.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from flitch.web.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
