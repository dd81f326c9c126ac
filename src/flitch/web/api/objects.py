"""The objects a connection can read (the catalog), for the picker and for scripts."""

from __future__ import annotations

from fastapi import APIRouter

from flitch import catalog
from flitch.web.api.models import ERROR_RESPONSES, ColumnOut, ObjectOut

router = APIRouter(prefix="/api/v1", tags=["objects"], responses=ERROR_RESPONSES)


def object_list() -> list[ObjectOut]:
    return [
        ObjectOut(
            name=spec.name,
            label=spec.label,
            permission=spec.permission,
            permission_label=spec.permission_label,
            columns=[
                ColumnOut(name=c.name, type=c.type.value, description=c.description)
                for c in spec.columns
            ],
        )
        for spec in catalog.OBJECTS
    ]


@router.get("/objects", name="api_list_objects", response_model=list[ObjectOut])
def list_objects() -> list[ObjectOut]:
    """The Stripe objects Flitch reads, each with the permission it needs and its columns."""
    return object_list()
