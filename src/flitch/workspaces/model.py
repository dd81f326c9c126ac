"""What a workspace is, who belongs to it, and the rules for their names and roles.

A **workspace** holds connections (with their datasets, caches, refresh runs and schedules),
user-made dashboards and API tokens. A **member** is a user with a role in it: an **admin**
manages its connections and dashboards, a **viewer** sees them; an admin may also be an
**owner**, who invites, changes roles and removes members. A workspace always keeps an owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flitch.errors import InputError
from flitch.metadb.schema import DEFAULT_WORKSPACE

__all__ = [
    "DEFAULT_WORKSPACE",
    "ID_PREFIX",
    "NO_WORKSPACE",
    "Member",
    "Membership",
    "MembershipConflict",
    "Role",
    "Workspace",
    "check_name",
    "parse_role",
]

#: Every workspace id starts so (the default one is ``ws_default``).
ID_PREFIX = "ws_"
#: What a request of a user who belongs to no workspace is bound to: an id no row has, so
#: every lookup finds nothing (never "every workspace").
NO_WORKSPACE = "ws_none"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
NAME_RULE = (
    "Use 1 to 64 characters: letters, digits, spaces, '-', '_' and '.', starting with a letter "
    "or digit, for example 'Acme' or 'client-42'."
)


class MembershipConflict(InputError):
    """A change of members that would leave a workspace without an owner, or a taken name."""


class Role(StrEnum):
    """What a user may do in a workspace. Admins may do everything a viewer may."""

    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Membership:
    """One user's place in one workspace, as a request acting there sees it."""

    workspace: Workspace
    role: Role
    owner: bool

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def to_dict(self) -> dict[str, Any]:
        return {**self.workspace.to_dict(), "role": self.role.value, "owner": self.owner}


@dataclass(frozen=True)
class Member:
    """A member of a workspace, as its owners see the list."""

    user_id: int
    name: str
    role: Role
    owner: bool
    joined_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value, "owner": self.owner}


def check_name(name: str) -> str:
    """A workspace name as stored, or ``InputError`` saying what a name may be."""
    cleaned = name.strip()
    if not _NAME.fullmatch(cleaned):
        raise InputError(f"{cleaned[:64]!r} cannot be used as a workspace name.", NAME_RULE)
    if cleaned.lower().startswith(ID_PREFIX):
        raise InputError(f"The name {cleaned!r} looks like a workspace id.", NAME_RULE)
    return cleaned


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InputError(
            f"{text[:32]!r} is not a role.",
            "Use 'admin' (manages connections and users) or "
            "'viewer' (sees datasets and dashboards).",
        ) from None
