"""The web app: pages and the JSON API, built by :func:`flitch.web.app.create_app`."""

from __future__ import annotations

from flitch.web.app import create_app

__all__ = ["create_app"]
