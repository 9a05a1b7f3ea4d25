"""Limits answer 429 with Retry-After and say what to do: sessions per person, starts in
flight across the portal, and request rates on sign-in, create and start."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


async def test_a_person_runs_at_most_the_allowed_number_of_repls(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings(DEVEX_MAX_ACTIVE_PER_USER=1)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        first, second = [(await client.post("/api/repl/new", json={
            "template": "python", "replName": name})).json()["id"] for name in ("a", "b")]
        assert (await client.get(f"/api/repl/session/{first}")).status_code == 200
        refused = await client.get(f"/api/repl/session/{second}")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "30"
        assert "at most 1 REPLs at once" in refused.json()["error"]
        assert (await client.get(f"/api/repl/session/{first}")).status_code == 200  # joins
        await client.delete(f"/api/repl/session/{first}")
        assert (await client.get(f"/api/repl/session/{second}")).status_code == 200
        await client.delete(f"/api/repl/session/{second}")


async def test_starts_in_flight_across_the_portal_are_bounded(
    make_settings: MakeSettings, redis_url: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    # Another portal process is starting a REPL right now.
    await redis.hset("activeSession:feedfacefeedface", mapping={"state": "starting"})
    await redis.sadd("startingSessions", "feedfacefeedface")
    async with live_portal(make_settings(DEVEX_MAX_CONCURRENT_STARTS=1)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "c"})).json()
        busy = await client.get(f"/api/repl/session/{repl['id']}")
        assert (busy.status_code, busy.headers["Retry-After"]) == (429, "5")
        assert "starting many REPLs" in busy.json()["error"]
        await redis.hset("activeSession:feedfacefeedface", "state", "running")
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        await client.delete(f"/api/repl/session/{repl['id']}")
    await redis.aclose()


async def test_create_and_sign_in_are_rate_limited(make_settings: MakeSettings) -> None:
    settings = make_settings(DEVEX_RATE_CREATE=2, DEVEX_RATE_SIGN_IN=3)
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        for name in ("one", "two"):
            assert (await client.post("/api/repl/new", json={"template": "node",
                                                              "replName": name})
                    ).status_code == 201
        limited = await client.post("/api/repl/new", json={"template": "node",
                                                            "replName": "three"})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.json()["error"].startswith("too many requests; try again in")
        async with client_for(base) as other:  # another person has their own allowance
            await dev_sign_in(other, "bob")
            assert (await other.post("/api/repl/new", json={"template": "node",
                                                             "replName": "x"})
                    ).status_code == 201
            # Sign-in counts per address: alice, bob, then bob again use up three.
            assert (await other.post("/auth/dev/login", json={"login": "bob"})
                    ).status_code == 200
            signed_in = await other.post("/auth/dev/login", json={"login": "bob"})
            assert signed_in.status_code == 429
