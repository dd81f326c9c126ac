"""The JSON shapes of the API (they make its OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from flitch.web.users import ApiToken, Role, User


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ErrorBody(BaseModel):
    """Every error the API answers with: what happened and what to do next."""

    error: str = Field(description="The kind of error, e.g. NotFound, InputError, Forbidden.")
    message: str = Field(description="What happened.")
    fix: str = Field(description="What to do next.")
    retriable: bool | None = Field(default=None, description="Trying again later may work.")
    request_id: str | None = Field(default=None, description="Stripe's request id, if any.")


#: The error answers every API route may give, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The input cannot be used; the message says why."),
        (401, "Not signed in, or the API token is not recognised."),
        (403, "Not allowed for this role, or the anti-forgery token is missing."),
        (404, "No such thing."),
        (409, "Clashes with what exists."),
        (422, "The request body or parameters do not have the expected shape."),
    )
}


class UserOut(BaseModel):
    name: str
    role: Role
    created_at: str | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, role=user.role, created_at=iso(user.created_at))


class MeOut(UserOut):
    via: str = Field(description="How this request authenticated: session or token.")
    is_admin: bool = Field(description="Whether you are an admin of the workspace you act in.")
    workspace: dict[str, Any] | None = Field(
        default=None, description="The workspace you act in: id, name, your role, owner."
    )
    instance_admin: bool = Field(
        default=False, description="Whether you manage this Flitch's accounts and workspaces."
    )


class UserCreate(BaseModel):
    name: str = Field(max_length=200, description="1 to 64 letters, digits and . _ @ + -")
    password: str = Field(max_length=2000, description="At least 10 characters.")
    role: Role = Role.VIEWER


class UserUpdate(BaseModel):
    role: Role | None = None
    password: str | None = Field(default=None, max_length=2000)
    revoke_tokens: StrictBool = Field(
        default=True,
        description="With a new password or a new role, also revoke the user's API tokens "
        "(the default: a reset usually follows a leak or a departure, and a token made for "
        "one role should not carry another). Send false to keep their scripts running.",
    )


class UserUpdated(UserOut):
    tokens_revoked: int = Field(description="How many of the user's API tokens were revoked.")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=2000)
    new_password: str = Field(max_length=2000)


class TokenOut(BaseModel):
    id: int
    label: str
    user: str
    prefix: str = Field(description="The first characters of the token, to recognise it.")
    created_at: str | None
    last_used_at: str | None = Field(description="When it was last used (to the minute).")
    last_used_from: str | None = Field(description="The client address of its last use.")

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            label=token.label,
            user=token.user_name,
            prefix=token.prefix,
            created_at=iso(token.created_at),
            last_used_at=iso(token.last_used_at),
            last_used_from=token.last_used_from,
        )


class TokenCreate(BaseModel):
    label: str = Field(max_length=200, description="What the token is for (the script's name).")


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself. Shown this once: store it now.")


class ColumnOut(BaseModel):
    name: str
    type: str
    description: str


class ObjectOut(BaseModel):
    name: str
    label: str
    permission: str
    permission_label: str
    columns: list[ColumnOut]
