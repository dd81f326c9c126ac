"""Dashboards as definitions: list them, read one, and (admins) create, change, copy, reorder,
delete, export and import them, chart by chart.

The built-in dashboards (Payments, Billing, Revenue) are read-only: copy one to change it. What
a dashboard shows for a connection and a period is :mod:`flitch.web.api.dashboard_data`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from flitch import catalog
from flitch.dashboards.builtin import BUILTIN
from flitch.dashboards.model import SEGMENT_TYPES, Dashboard
from flitch.dashboards.storage import DashboardStore
from flitch.metrics import METRICS, REPORTS, segments
from flitch.metrics.series import Grain
from flitch.web.api.dashboard_models import (
    DATASET_TYPES,
    METRIC_TYPES,
    WATERFALL_REPORTS,
    ChartAdd,
    ChartIn,
    ChartOrder,
    DashboardCopy,
    DashboardCreate,
    DashboardImport,
    DashboardIn,
    DashboardMove,
    DashboardSummary,
    filter_ops,
    to_chart,
    to_dashboard,
)
from flitch.web.api.models import ERROR_RESPONSES
from flitch.web.context import context_of
from flitch.web.errors import Conflict

router = APIRouter(prefix="/api/v1", tags=["dashboards"], responses=ERROR_RESPONSES)


def store_of(request: Request) -> DashboardStore:
    """The user dashboards of the request's workspace (a FastAPI dependency)."""
    store = context_of(request).dashboards
    assert isinstance(store, DashboardStore)
    return store


Store = Annotated[DashboardStore, Depends(store_of)]


def _yours(name: str) -> str:
    """``name``, unless it is a built-in dashboard (those cannot be changed)."""
    if name.lower() in BUILTIN:
        raise Conflict(
            f"{BUILTIN[name.lower()].title} is a built-in dashboard and cannot be changed.",
            f"Copy it (POST /api/v1/dashboards/{name.lower()}/copy, or Copy on its page) and "
            "change the copy.",
        )
    return name


def definition(board: Dashboard) -> dict[str, Any]:
    """A dashboard's definition as the API answers it: the export form, and whether it is
    built in."""
    return {**board.to_dict(), "builtin": board.builtin}


@router.get("/dashboards", name="api_list_dashboards", response_model=list[DashboardSummary])
def list_dashboards(store: Store) -> list[DashboardSummary]:
    """The built-in dashboards, then the user-made ones in their order."""
    return [DashboardSummary.of(d) for d in [*BUILTIN.values(), *store.all()]]


@router.get("/dashboard-options", name="api_dashboard_options", response_model=dict[str, Any])
def dashboard_options() -> dict[str, Any]:
    """What a chart can show: the metrics and reports of the registry (with their definitions),
    the datasets and their columns, and the measures, filters, grains and chart types."""
    return {
        "metrics": [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit.value,
                "definition": m.definition,
                "up_is_good": m.up_is_good,
                "series": bool(m.series),
                "types": [t for t in METRIC_TYPES if bool(m.series) or t in ("number", "table")],
            }
            for m in METRICS
        ],
        "reports": [
            {
                "name": r.name,
                "label": r.label,
                "definition": r.definition,
                "types": ["waterfall", "table"] if r.name in WATERFALL_REPORTS else ["table"],
            }
            for r in REPORTS
        ],
        "datasets": [
            {
                "name": spec.name,
                "label": spec.label,
                "columns": [
                    {"name": c.name, "type": c.type.value, "description": c.description}
                    for c in spec.columns
                    if c.name != "raw"
                ],
            }
            for spec in catalog.OBJECTS
        ],
        # how a metric of the MRR family can be split (``metadata.<key>``: any customer key)
        "segments": [{"name": k, "label": v} for k, v in segments.KINDS.items()],
        "segment_metrics": list(segments.METRICS),
        "segment_types": [t.value for t in SEGMENT_TYPES],
        "dataset_types": list(DATASET_TYPES),
        "aggregates": ["count", "sum", "avg", "min", "max"],
        "operators": filter_ops(),
        "grains": [g.value for g in Grain],
    }


@router.post(
    "/dashboards", name="api_create_dashboard", response_model=dict[str, Any], status_code=201
)
def create_dashboard(body: DashboardCreate, store: Store) -> dict[str, Any]:
    """Create a dashboard of your own (empty, or with charts)."""
    return definition(store.create(to_dashboard(body)))


@router.post(
    "/dashboards/import",
    name="api_import_dashboard",
    response_model=dict[str, Any],
    status_code=201,
)
def import_dashboard(body: DashboardImport, store: Store) -> dict[str, Any]:
    """Save a dashboard from its exported JSON (under another name if given; ``replace``
    overwrites one of yours of that name)."""
    board = to_dashboard(body.dashboard, _yours(body.name or body.dashboard.name))
    return definition(store.import_(board.to_dict(), replace_existing=body.replace))


@router.get("/dashboards/{name}", name="api_get_dashboard", response_model=dict[str, Any])
def get_dashboard(name: str, store: Store) -> dict[str, Any]:
    """A dashboard's definition: its charts, each with its id."""
    return definition(store.find(name))


@router.get(
    "/dashboards/{name}/export",
    name="api_export_dashboard",
    response_class=JSONResponse,
    responses={200: {"description": "The dashboard as a JSON file (a download)."}},
)
def export_dashboard(name: str, store: Store) -> Response:
    """The dashboard as JSON to import elsewhere (built-in ones too), as a download."""
    board = store.find(name)
    return JSONResponse(
        board.to_dict(),
        headers={"Content-Disposition": f'attachment; filename="{board.name}.dashboard.json"'},
    )


@router.put("/dashboards/{name}", name="api_save_dashboard", response_model=dict[str, Any])
def save_dashboard(name: str, body: DashboardIn, store: Store) -> dict[str, Any]:
    """Replace one of your dashboards with this definition (which may rename it)."""
    return definition(store.save(_yours(name), to_dashboard(body)))


@router.delete("/dashboards/{name}", name="api_delete_dashboard", response_model=dict[str, str])
def delete_dashboard(name: str, store: Store) -> dict[str, str]:
    """Delete one of your dashboards."""
    store.delete(_yours(name))
    return {"deleted": name}


@router.post(
    "/dashboards/{name}/copy",
    name="api_copy_dashboard",
    response_model=dict[str, Any],
    status_code=201,
)
def copy_dashboard(name: str, body: DashboardCopy, store: Store) -> dict[str, Any]:
    """Start a dashboard of your own as a copy of this one (a built-in one, or yours)."""
    return definition(store.copy(name, body.name, body.title))


@router.post(
    "/dashboards/{name}/move", name="api_move_dashboard", response_model=dict[str, list[str]]
)
def move_dashboard(name: str, body: DashboardMove, store: Store) -> dict[str, list[str]]:
    """Move one of your dashboards in the list; answers the new order."""
    return {"order": store.move(_yours(name), body.position)}


@router.post(
    "/dashboards/{name}/charts",
    name="api_add_chart",
    response_model=dict[str, Any],
    status_code=201,
)
def add_chart(name: str, body: ChartAdd, store: Store) -> dict[str, Any]:
    """Add a chart to one of your dashboards (last, or at ``position``)."""
    return definition(store.add_chart(_yours(name), to_chart(body.chart), body.position))


@router.put(
    "/dashboards/{name}/charts/{chart_id}",
    name="api_replace_chart",
    response_model=dict[str, Any],
)
def replace_chart(name: str, chart_id: str, body: ChartIn, store: Store) -> dict[str, Any]:
    """Change a chart of one of your dashboards (it keeps its id and place)."""
    return definition(store.replace_chart(_yours(name), chart_id, to_chart(body)))


@router.delete(
    "/dashboards/{name}/charts/{chart_id}",
    name="api_delete_chart",
    response_model=dict[str, Any],
)
def delete_chart(name: str, chart_id: str, store: Store) -> dict[str, Any]:
    """Remove a chart from one of your dashboards."""
    return definition(store.remove_chart(_yours(name), chart_id))


@router.put(
    "/dashboards/{name}/chart-order", name="api_order_charts", response_model=dict[str, Any]
)
def order_charts(name: str, body: ChartOrder, store: Store) -> dict[str, Any]:
    """Put the charts of one of your dashboards in this order (every id once)."""
    return definition(store.reorder(_yours(name), body.order))
