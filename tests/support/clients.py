"""HTTP clients for the live portal, signed in the way a browser or the IDE would be."""

from __future__ import annotations

import httpx2 as httpx


async def dev_sign_in(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    response = await client.post("/auth/dev/login", json={"login": login})
    assert response.status_code == 200, response.text
    user: dict[str, str] = response.json()
    return user


def client_for(base: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=30, **kwargs)  # type: ignore[arg-type]
