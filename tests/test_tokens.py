"""Personal API tokens: shown once, stored only as a hash, revocable."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


async def test_a_token_authenticates_the_api_until_revoked(
    make_settings: MakeSettings, redis_url: str
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as browser:
        await dev_sign_in(browser, "alice")
        created = await browser.post("/api/tokens", json={"name": "laptop"})
        assert created.status_code == 201
        token = created.json()
        secret = token["token"]
        assert secret.startswith("dvx_") and len(secret) > 40

        listed = (await browser.get("/api/tokens")).json()
        assert listed == [{"id": token["id"], "name": "laptop", "createdAt": token["createdAt"]}]

        async with client_for(base, headers={"Authorization": f"Bearer {secret}"}) as script:
            assert (await script.get("/auth/me")).json()["login"] == "alice"
            new = await script.post("/api/repl/new", json={"template": "node", "replName": "cli"})
            assert new.status_code == 201
            # A bearer request is not a browser's, so it may come from any origin.
            assert (await script.get("/api/repl", headers={"Origin": "https://x.test"})
                    ).status_code == 200

            assert (await browser.delete(f"/api/tokens/{token['id']}")).status_code == 200
            assert (await script.get("/api/repl")).status_code == 401
        assert (await browser.get("/api/tokens")).json() == []
        assert (await browser.delete(f"/api/tokens/{token['id']}")).status_code == 404

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for key in await client.keys("*"):
            kind = await client.type(key)
            values: list[str] = []
            if kind == "string":
                values = [str(await client.get(key))]
            elif kind == "hash":
                values = [str(v) for v in (await client.hgetall(key)).values()]
            assert all(secret not in value for value in values), key
            assert secret not in key
    finally:
        await client.aclose()


async def test_a_wrong_or_malformed_bearer_token_is_refused(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        for header in ("Bearer dvx_not-a-real-token", "Bearer", "Bearer garbage", "Basic eA=="):
            response = await client.get("/api/repl", headers={"Authorization": header})
            assert response.status_code == 401, header


async def test_token_names_are_checked(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        assert (await client.post("/api/tokens", json={"name": "  "})).json() == {
            "error": "name: use 1 to 64 characters"}
        assert (await client.post("/api/tokens", json={})).json() == {"error": "name: required"}


async def test_one_user_cannot_revoke_anothers_token(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as alice, client_for(
        base
    ) as bob:
        await dev_sign_in(alice, "alice")
        await dev_sign_in(bob, "bob")
        token = (await alice.post("/api/tokens", json={"name": "ci"})).json()
        assert (await bob.delete(f"/api/tokens/{token['id']}")).status_code == 404
        assert len((await alice.get("/api/tokens")).json()) == 1
