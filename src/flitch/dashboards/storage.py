"""User-made dashboards, kept in Flitch's metadata database (``flitch.db``, or PostgreSQL).

The tables here start with ``dash_``; their migrations are the ``dashboards`` part of
:mod:`flitch.metadb.schema`, recorded in their own table, ``dash_schema_migrations``. A
dashboard is stored as its JSON form (``Dashboard.to_dict``), checked on the way in and on the
way out, so a chart that no longer fits the catalog is reported, not drawn wrongly.

Names are unique (case-insensitive) within a workspace and never those of the built-in
dashboards. A store is bound to one workspace and every statement names it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from flitch import clock as clocks
from flitch.dashboards.builtin import BUILTIN, get_builtin
from flitch.dashboards.model import (
    Chart,
    Dashboard,
    check_name,
    dashboard_from_dict,
    with_ids,
)
from flitch.errors import InputError, NotFound
from flitch.metadb import Database, Row, Tx
from flitch.metadb.dialect import SQLITE
from flitch.metadb.schema import DEFAULT_WORKSPACE
from flitch.metadb.target import DB_FILE, Target, open_target

DB_NAME = DB_FILE


def db_path(home: Path) -> Path:
    return Path(home) / DB_NAME


class DashboardStore:
    """Create, read, change, reorder, copy, delete, export and import user dashboards."""

    def __init__(self, where: Database | Path, workspace_id: str = DEFAULT_WORKSPACE) -> None:
        """``where``: the install's metadata database, or a SQLite file's path;
        ``workspace_id``: the workspace whose dashboards this store reads and writes (every
        statement below names it: another workspace's dashboards are not found)."""
        self.workspace_id = workspace_id
        if isinstance(where, Database):
            self.db = where
        else:
            self.db = open_target(Target(SQLITE, path=Path(where)))

    @classmethod
    def for_home(cls, home: Path) -> DashboardStore:
        return cls(db_path(home))

    # -- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _db(self) -> Iterator[Tx]:
        with self.db.write() as tx:
            yield tx

    @staticmethod
    def _load(row: Row) -> Dashboard:
        return dashboard_from_dict(orjson.loads(row["body"]))

    def _require(self, db: Tx, name: str) -> Row:
        row = db.execute(
            "SELECT * FROM dash_dashboards WHERE workspace_id = ? AND lower(name) = lower(?)",
            (self.workspace_id, name),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"There is no dashboard {name!r}.",
                "List them with flitch dashboards list; the built-in ones are "
                f"{', '.join(BUILTIN)}.",
            )
        return row

    def _new_name(self, db: Tx, name: str) -> str:
        check_name(name)
        if name.lower() in BUILTIN:
            raise InputError(
                f"{name!r} is the name of a built-in dashboard.",
                "Pick another name (copy the built-in one under a new name to change it).",
            )
        if db.execute(
            "SELECT 1 FROM dash_dashboards WHERE workspace_id = ? AND lower(name) = lower(?)",
            (self.workspace_id, name),
        ).fetchone():
            raise InputError(
                f"A dashboard named {name!r} already exists.",
                "Pick another name, or replace it (--replace on import).",
            )
        return name

    # -- reading ---------------------------------------------------------------------------------
    def all(self) -> list[Dashboard]:
        """The user dashboards, in their order."""
        with self.db.read() as db:
            rows = db.execute(
                "SELECT * FROM dash_dashboards WHERE workspace_id = ? ORDER BY position, name",
                (self.workspace_id,),
            ).fetchall()
        return [self._load(r) for r in rows]

    def get(self, name: str) -> Dashboard:
        with self.db.read() as db:
            return self._load(self._require(db, name))

    def find(self, name: str) -> Dashboard:
        """A built-in dashboard or a user one, by name."""
        if name.lower() in BUILTIN:
            return BUILTIN[name.lower()]
        return self.get(name)

    # -- writing ---------------------------------------------------------------------------------
    def create(self, dashboard: Dashboard) -> Dashboard:
        checked = replace(dashboard, builtin=False).check()
        now = clocks.now()
        with self._db() as db:
            self._new_name(db, checked.name)
            last = db.execute(
                "SELECT COALESCE(MAX(position), -1) FROM dash_dashboards WHERE workspace_id = ?",
                (self.workspace_id,),
            ).scalar()
            db.execute(
                "INSERT INTO dash_dashboards (workspace_id, name, title, body, position,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.workspace_id,
                    checked.name,
                    checked.title,
                    _body(checked),
                    int(last) + 1,
                    now,
                    now,
                ),
            )
        return checked

    def save(self, name: str, dashboard: Dashboard) -> Dashboard:
        """Replace the dashboard ``name`` with ``dashboard`` (which may rename it)."""
        checked = replace(dashboard, builtin=False).check()
        with self._db() as db:
            self._require(db, name)
            if checked.name.lower() != name.lower():
                self._new_name(db, checked.name)
            db.execute(
                "UPDATE dash_dashboards SET name = ?, title = ?, body = ?, updated_at = ?"
                " WHERE workspace_id = ? AND lower(name) = lower(?)",
                (
                    checked.name,
                    checked.title,
                    _body(checked),
                    clocks.now(),
                    self.workspace_id,
                    name,
                ),
            )
        return checked

    def delete(self, name: str) -> None:
        with self._db() as db:
            self._require(db, name)
            db.execute(
                "DELETE FROM dash_dashboards WHERE workspace_id = ? AND lower(name) = lower(?)",
                (self.workspace_id, name),
            )

    def copy(self, source: str, name: str, title: str | None = None) -> Dashboard:
        """A new dashboard starting as a copy of a built-in (or another user) dashboard."""
        original = get_builtin(source.lower()) if source.lower() in BUILTIN else self.get(source)
        return self.create(
            replace(original, name=name, title=title or f"{original.title} (copy)", builtin=False)
        )

    def move(self, name: str, position: int) -> list[str]:
        """Put a dashboard at ``position`` (0 first) in the list; returns the new order."""
        with self._db() as db:
            self._require(db, name)
            names = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM dash_dashboards WHERE workspace_id = ? ORDER BY position",
                    (self.workspace_id,),
                )
            ]
            names = [n for n in names if n.lower() != name.lower()]
            names.insert(max(0, min(position, len(names))), name)
            for i, n in enumerate(names):
                db.execute(
                    "UPDATE dash_dashboards SET position = ?"
                    " WHERE workspace_id = ? AND lower(name) = lower(?)",
                    (i, self.workspace_id, n),
                )
        return names

    # -- charts ----------------------------------------------------------------------------------
    def add_chart(self, name: str, chart: Chart, position: int | None = None) -> Dashboard:
        d = self.get(name)
        charts = list(d.charts)
        charts.insert(len(charts) if position is None else position, chart)
        return self.save(name, replace(d, charts=with_ids(charts)))

    def replace_chart(self, name: str, chart_id: str, chart: Chart) -> Dashboard:
        d = self.get(name)
        _index(d, chart_id)
        charts = [replace(chart, id=chart_id) if c.id == chart_id else c for c in d.charts]
        return self.save(name, replace(d, charts=tuple(charts)))

    def remove_chart(self, name: str, chart_id: str) -> Dashboard:
        d = self.get(name)
        _index(d, chart_id)
        return self.save(name, replace(d, charts=tuple(c for c in d.charts if c.id != chart_id)))

    def move_chart(self, name: str, chart_id: str, position: int) -> Dashboard:
        d = self.get(name)
        chart = d.charts[_index(d, chart_id)]
        rest = [c for c in d.charts if c.id != chart_id]
        rest.insert(max(0, min(position, len(rest))), chart)
        return self.save(name, replace(d, charts=tuple(rest)))

    def reorder(self, name: str, chart_ids: Sequence[str]) -> Dashboard:
        """Put the charts in the order of ``chart_ids`` (which must name each chart once)."""
        d = self.get(name)
        by_id = {c.id: c for c in d.charts}
        if sorted(chart_ids) != sorted(by_id):
            raise InputError(
                "The new order must name every chart of the dashboard exactly once.",
                f"Its charts are: {', '.join(by_id)}.",
            )
        return self.save(name, replace(d, charts=tuple(by_id[i] for i in chart_ids)))

    # -- JSON ------------------------------------------------------------------------------------
    def export(self, name: str) -> dict[str, Any]:
        """The dashboard as JSON (built-in ones too), ready for ``import_``."""
        return self.find(name).to_dict()

    def import_(
        self, data: Mapping[str, Any], *, name: str | None = None, replace_existing: bool = False
    ) -> Dashboard:
        """Save a dashboard from its JSON form, under ``name`` if given."""
        body = dict(data)
        if name:
            body["name"] = name
        dashboard = dashboard_from_dict(body)
        if replace_existing:
            with self.db.read() as db:
                exists = db.execute(
                    "SELECT 1 FROM dash_dashboards"
                    " WHERE workspace_id = ? AND lower(name) = lower(?)",
                    (self.workspace_id, dashboard.name),
                ).fetchone()
            if exists:
                return self.save(dashboard.name, dashboard)
        return self.create(dashboard)


def _body(dashboard: Dashboard) -> str:
    return orjson.dumps(dashboard.to_dict()).decode()


def _index(dashboard: Dashboard, chart_id: str) -> int:
    for i, chart in enumerate(dashboard.charts):
        if chart.id == chart_id:
            return i
    raise NotFound(
        f"The dashboard {dashboard.name!r} has no chart {chart_id!r}.",
        f"Its charts are: {', '.join(c.id for c in dashboard.charts) or 'none yet'}.",
    )
