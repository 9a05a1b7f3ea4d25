"""Request and response bodies of the JSON API, validated by quart-schema and published in
the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from quart_schema import document_response

F = TypeVar("F", bound=Callable[..., Any])


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# The rules are documented in the schema but checked by the lifecycle, which names the
# rule a value broke in words a person can act on.
class NewRepl(_Body):
    template: str = Field(description="A template key from GET /api/templates")
    replName: str = Field(
        description="Letters, digits, '.', '_' and '-', starting with a letter or digit",
        json_schema_extra={"minLength": 1, "maxLength": 50,
                           "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"},
    )


class NewToken(_Body):
    name: str = Field(description="What the token is for",
                      json_schema_extra={"minLength": 1, "maxLength": 64, "pattern": "^\\S"})


class DevLogin(_Body):
    login: str = Field(
        description="A GitHub-style login",
        json_schema_extra={"pattern": "^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$"},
    )


# Responses


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, in words a person can act on")


class MessageOut(BaseModel):
    message: str
    replId: str | None = None
    id: str | None = None


class UserOut(BaseModel):
    id: str
    login: str
    name: str
    email: str
    avatar_url: str
    created_at: str


class AuthStatusOut(BaseModel):
    authenticated: bool
    user: UserOut | None = None
    token_expires_at: str | None = None


class TemplateOut(BaseModel):
    key: str
    name: str
    description: str
    language: str


class ReplOut(BaseModel):
    id: str
    name: str
    user: str
    template: str
    isActive: bool
    state: Literal["stopped", "starting", "running", "stopping", "failed"]
    createdAt: str


class SessionOut(BaseModel):
    replId: str
    replName: str
    state: Literal["starting", "running"]
    url: str | None = Field(None, description="Opens the workspace page; carries the credential")
    wsUrl: str | None = Field(None, description="The runner WebSocket; carries the credential")


class TokenOut(BaseModel):
    id: str
    name: str
    createdAt: str


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; send as `Authorization: Bearer ...`")


class AliveOut(BaseModel):
    status: str


class PingOut(BaseModel):
    api: str
    redis: str
    storage: str
    runtime: str
    status: Literal["ok", "degraded"]


class ReadyOut(BaseModel):
    ready: bool
    redis: str
    storage: str
    runtime: str


def documented(
    ok: Any, status: int = 200, *, errors: tuple[int, ...] = (),
    also: tuple[tuple[Any, int], ...] = (),
) -> Callable[[F], F]:
    """Document a route's answer and the error statuses it can give (`{"error": ...}`)."""
    def decorate(view: F) -> F:
        for model, code in ((ok, status), *also):
            view = document_response(model, code)(view)
        for code in errors:
            view = document_response(ErrorOut, code)(view)
        return view
    return decorate

