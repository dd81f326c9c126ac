"""Workspaces: walls between the organisations one Flitch serves (see the README, Workspaces).

Connections (with their datasets, caches, runs and schedules), user-made dashboards and API
tokens belong to one workspace; users belong to workspaces with a role in each. What a request
or a command may see is decided once, where it is bound to its workspace
(:meth:`flitch.connections.service.ConnectionService.in_workspace`, the dashboards' store of
that workspace), never in each handler.
"""

from flitch.workspaces.model import (
    DEFAULT_WORKSPACE,
    NO_WORKSPACE,
    Member,
    Membership,
    MembershipConflict,
    Role,
    Workspace,
)
from flitch.workspaces.store import WorkspaceStore

__all__ = [
    "DEFAULT_WORKSPACE",
    "NO_WORKSPACE",
    "Member",
    "Membership",
    "MembershipConflict",
    "Role",
    "Workspace",
    "WorkspaceStore",
]
