"""Deleting a workspace: each of its connections exactly as disconnect deletes one (sealed key,
rows, every byte of its cache), then its own rows (members, invitations, API tokens,
dashboards), its cache folder, and a compaction of the metadata so no file keeps a trace.

The deletion asks for the workspace's name typed again (``confirm``): a slip of the mouse or a
wrong ``--workspace`` must not empty an organisation's account. The default workspace, which a
single-machine install lives in, cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flitch.connections.service import REVOKE_REMINDER, ConnectionService, Deleted
from flitch.errors import InputError
from flitch.workspaces.model import DEFAULT_WORKSPACE, MembershipConflict, Workspace
from flitch.workspaces.store import WorkspaceStore


@dataclass(frozen=True)
class DeletedWorkspace:
    workspace: Workspace
    connections: tuple[Deleted, ...]
    #: False if the metadata could not be compacted (see ConnectionService.delete)
    scrubbed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": True,
            **self.workspace.to_dict(),
            "connections": [c.to_dict() for c in self.connections],
            "scrubbed": self.scrubbed,
            "reminder": REVOKE_REMINDER if self.connections else None,
        }


def delete_workspace(
    service: ConnectionService,
    store: WorkspaceStore,
    workspace_id: str,
    confirm: str,
    *,
    before_each: Callable[[str], None] | None = None,
) -> DeletedWorkspace:
    """Delete the workspace and everything in it; ``confirm`` must be its name.

    ``before_each(connection_id)`` runs before each connection is deleted (the web app stops
    its refreshes and closes its cache readers there)."""
    workspace = store.get(workspace_id)
    if workspace.id == DEFAULT_WORKSPACE:
        raise MembershipConflict(
            "The default workspace cannot be deleted.",
            "Delete its connections one by one (Delete on each connection's page) instead.",
        )
    if confirm.strip() != workspace.name:
        raise InputError(
            "The workspace was not deleted: the name typed to confirm does not match.",
            f"Type the workspace's name, {workspace.name!r}, exactly, to delete it with "
            "everything in it.",
        )
    bound = service.in_workspace(workspace.id)
    deleted: list[Deleted] = []
    for connection in bound.list():
        if before_each is not None:
            before_each(connection.id)
        deleted.append(bound.delete(connection.id))
    store.delete(workspace.id)
    from flitch.store.files import shred

    shred(service.cache_location.root / workspace.id)  # the folder, and anything left in it
    return DeletedWorkspace(workspace, tuple(deleted), service.db.scrub())
