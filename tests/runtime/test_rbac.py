"""The Role in deploy/ grants exactly what the portal uses: every request the simulated
API server saw during the workspace tests is allowed, and every grant was used. (This
file sorts after the other workspace tests, and runs a full cycle of its own too.)"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tests.conftest import MakeSettings
from tests.deploy.test_manifests import by_kind
from tests.runtime.conftest import Cluster
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


def granted() -> set[tuple[str, str, str]]:
    (role,) = by_kind("Role")
    return {(verb, group, resource) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


async def test_the_role_grants_exactly_what_the_portal_uses(
    kube_settings: MakeSettings, cluster: Cluster, redis_url: str,
    kube_requests: set[tuple[str, str, str]],
) -> None:
    settings = kube_settings()
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "rbac"})).json()
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        assert (await client.get("/ping")).json()["runtime"] == "ok"
        assert (await client.delete(f"/api/repl/session/{repl['id']}")).status_code == 200
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
    redis = aioredis.Redis.from_url(redis_url)
    await redis.delete(f"activeSession:{repl['id']}")
    await redis.srem("activeSessions", repl["id"])
    await redis.aclose()
    async with live_portal(settings):  # reconciliation stops the unowned workload
        for _ in range(200):
            if not cluster.sim.managed(repl["id"]):
                break
            await asyncio.sleep(0.05)
    used = kube_requests | {(v, g, r) for v, g, r, _ in cluster.sim.requests}
    print(f"\nRBAC: {len(used)} distinct requests used, {len(granted())} grants")
    assert used - granted() == set(), "used but not granted"
    assert granted() - used == set(), "granted but never used"
