"""HTTP clients for the live portal, signed in the way a browser or the IDE would be."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx


async def dev_sign_in(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    response = await client.post("/auth/dev/login", json={"login": login})
    assert response.status_code == 200, response.text
    user: dict[str, str] = response.json()
    return user


def client_for(base: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=30, **kwargs)  # type: ignore[arg-type]


async def new_repl(client: httpx.AsyncClient, template: str = "python",
                   name: str = "work") -> dict[str, Any]:
    response = await client.post("/api/repl/new", json={"template": template,
                                                        "replName": name})
    assert response.status_code == 201, response.text
    repl: dict[str, Any] = response.json()
    return repl
