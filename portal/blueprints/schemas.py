"""Request and response bodies of the JSON API, validated by quart-schema and published in
the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NewRepl(_Body):
    template: str = Field(description="A template key from GET /api/templates")
    replName: str = Field(description="Letters, digits, '.', '_' and '-'; at most 50")


class NewToken(_Body):
    name: str = Field(description="What the token is for; 1 to 64 characters")


class DevLogin(_Body):
    login: str
