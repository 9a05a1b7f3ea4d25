"""At start-up the portal makes sessions and workloads agree: what still runs is adopted,
a session whose workload is gone is cleared (its files saved where they survive), and a
workload nobody owns is stopped with its files saved."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx2 as httpx
import redis.asyncio as aioredis

from tests.conftest import MakeSettings
from tests.runtime.conftest import Cluster
from tests.support.clients import client_for, dev_sign_in, new_repl
from tests.support.live import live_portal
from tests.support.runner_client import RunnerClient, write_file


async def _forget_session(redis_url: str, repl_id: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.delete(f"activeSession:{repl_id}")
    await client.srem("activeSessions", repl_id)
    await client.aclose()


async def test_local_workloads_are_adopted_cleared_or_saved_after_a_restart(
    make_settings: MakeSettings, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(DEVEX_MAX_ACTIVE_PER_USER=5)
    files = tmp_path / "data" / "files" / "alice"
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        cookies = dict(client.cookies)
        ids = [(await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": f"r{i}"})).json()["id"]
               for i in range(3)]
        urls = [(await client.get(f"/api/repl/session/{i}")).json()["wsUrl"] for i in ids]
        for url, text in zip(urls, ("adopted\n", "crashed\n", "orphaned\n"), strict=True):
            await write_file(url, "/main.py", text)
    # The portal is gone; its runners live on. One runner dies, one session is lost.
    record = json.loads((tmp_path / "data" / "workspaces" / f"{ids[1]}.json").read_text())
    os.killpg(record["pid"], signal.SIGKILL)
    await _forget_session(redis_url, ids[2])

    async with live_portal(settings) as base, client_for(base, cookies=cookies) as client:
        expected = {ids[0]: "running", ids[1]: "stopped", ids[2]: "stopped"}
        for _ in range(100):
            states = {r["id"]: r["state"] for r in (await client.get("/api/repl")).json()}
            if states == expected:
                break
            await asyncio.sleep(0.1)
        assert states == expected
        assert not (tmp_path / "data" / "workspaces" / ids[2]).exists()
        adopted = await client.get(f"/api/repl/session/{ids[0]}")
        assert adopted.status_code == 200
        runner = await RunnerClient.open(adopted.json()["wsUrl"])
        assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == "adopted\n"
        await runner.close()
        assert (files / ids[1] / "main.py").read_text() == "crashed\n"
        assert (files / ids[2] / "main.py").read_text() == "orphaned\n"
        await client.delete(f"/api/repl/session/{ids[0]}")
        assert (files / ids[0] / "main.py").read_text() == "adopted\n"


async def test_kubernetes_workloads_are_adopted_cleared_or_saved_after_a_restart(
    kube_settings: MakeSettings, cluster: Cluster, redis_url: str
) -> None:
    settings = kube_settings(DEVEX_MAX_ACTIVE_PER_USER=5)
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        cookies = dict(client.cookies)
        ids = [(await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": f"r{i}"})).json()["id"]
               for i in range(3)]
        urls = [(await client.get(f"/api/repl/session/{i}")).json()["wsUrl"] for i in ids]
        for url, text in zip(urls, ("adopted\n", "gone\n", "orphaned\n"), strict=True):
            await write_file(url, "/main.py", text)
    # While the portal is down, one workload is deleted and one session is lost.
    async with httpx.AsyncClient() as api:
        gone = await api.delete(f"http://127.0.0.1:{cluster.api_port}/apis/apps/v1/namespaces/"
                                f"devex/deployments/repl-{ids[1]}")
        assert gone.status_code == 200
    await _forget_session(redis_url, ids[2])

    async with live_portal(settings) as base, client_for(base, cookies=cookies) as client:
        expected = {ids[0]: "running", ids[1]: "stopped", ids[2]: "stopped"}
        for _ in range(200):
            states = {r["id"]: r["state"] for r in (await client.get("/api/repl")).json()}
            if states == expected:
                break
            await asyncio.sleep(0.1)
        assert states == expected
        assert cluster.sim.managed(ids[1]) == []
        assert cluster.sim.managed(ids[2]) == []
        assert cluster.sim.count("create", "deployments") == 3
        adopted = (await client.get(f"/api/repl/session/{ids[0]}")).json()
        await write_file(adopted["wsUrl"], "/main.py", "adopted twice\n")
        await client.delete(f"/api/repl/session/{ids[0]}")
        orphan = (await client.get(f"/api/repl/session/{ids[2]}")).json()
        runner = await RunnerClient.open(orphan["wsUrl"])
        assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == "orphaned\n"
        await runner.close()
        await client.delete(f"/api/repl/session/{ids[2]}")


async def test_a_start_never_removes_an_earlier_workspace_with_unsaved_files(
    make_settings: MakeSettings, redis_url: str, tmp_path: Path
) -> None:
    # Reconciliation runs at start-up only, so the second start meets the earlier runner.
    settings = make_settings(DEVEX_RECONCILE_INTERVAL=3600)
    workspace = tmp_path / "data" / "workspaces"
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        cookies = dict(client.cookies)
        repl = await new_repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        await write_file(session["wsUrl"], "/main.py", "not saved yet\n")
        await _forget_session(redis_url, repl["id"])

        refused = await client.get(f"/api/repl/session/{repl['id']}")
        assert refused.status_code == 502
        assert "an earlier workspace of this REPL is still there" in refused.json()["error"]
        assert (workspace / repl["id"] / "main.py").read_text() == "not saved yet\n"

    # The next reconciliation saves the earlier workspace, then removes it.
    async with live_portal(settings) as base, client_for(base, cookies=cookies) as client:
        for _ in range(100):
            if (await client.get("/api/repl")).json()[0]["state"] == "stopped":
                break
            await asyncio.sleep(0.1)
        assert not (workspace / repl["id"]).exists()
        again = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(again["wsUrl"])
        assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == (
            "not saved yet\n")
        await runner.close()
        await client.delete(f"/api/repl/session/{repl['id']}")
