"""The records the portal keeps, as plain values shared by every layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    """A person as GitHub (or dev login) describes them; `id` never changes."""

    id: str
    login: str
    name: str = ""
    email: str = ""
    avatar_url: str = ""
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Repl:
    id: str
    name: str
    owner_id: str
    owner_login: str
    template: str
    created_at: str
    storage_prefix: str


@dataclass(frozen=True, slots=True)
class ReplView:
    """A REPL as its owner sees it in a listing: metadata plus whether it runs."""

    repl: Repl
    state: str  # "stopped" when there is no active session
    event: dict[str, Any] | None = None  # the session's latest progress event

    @property
    def is_active(self) -> bool:
        return self.state != "stopped"

    def to_json(self) -> dict[str, Any]:
        repl = self.repl
        return {
            "id": repl.id,
            "name": repl.name,
            "user": repl.owner_login,
            "template": repl.template,
            "isActive": self.is_active,
            "state": self.state,
            "createdAt": repl.created_at,
        }


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    user_id: str
    created_at: str
    token_hash: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "createdAt": self.created_at}


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    name: str
    description: str
    language: str
    image: str
    port: int
    run: str
    shell: str
    file_count: int  # starter files, so a half-published copy in storage is noticed

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "language": self.language,
        }
