"""Workspaces on Kubernetes, against a simulated API server over HTTP whose kubelet runs
the real runner and sync commands against moto's S3 server."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx
import redis.asyncio as aioredis

from tests.conftest import MakeSettings
from tests.runtime.conftest import Cluster
from tests.support.clients import client_for, dev_sign_in, new_repl
from tests.support.kube_sim import Fault
from tests.support.live import live_portal
from tests.support.runner_client import RunnerClient, write_file


async def test_a_round_trip_on_kubernetes_keeps_edits_and_deletions(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    settings = kube_settings(DEVEX_PUBLIC_URL="https://devex.example.test")
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)

        started = await client.get(f"/api/repl/session/{repl['id']}")
        assert started.status_code == 200, started.text
        session = started.json()
        async with httpx.AsyncClient(follow_redirects=True) as browser:
            page = await browser.get(session["url"])
        assert page.status_code == 200
        assert 'href="https://devex.example.test/dashboard"' in page.text
        assert session["wsUrl"].startswith(f"ws://127.0.0.1:{cluster.ingress_port}/{repl['id']}/")
        assert cluster.sim.managed(repl["id"]) == sorted([
            f"deployments/repl-{repl['id']}", f"ingresses/repl-{repl['id']}",
            f"secrets/repl-{repl['id']}", f"services/repl-{repl['id']}",
            *[f"pods/{p}" for p in cluster.sim.objects[("", "pods")]],
        ])
        assert {"Secret", "Deployment", "Service", "Ingress"} <= {
            v.split("/")[0] for v in cluster.sim.validated}

        runner = await RunnerClient.open(session["wsUrl"])
        try:
            await runner.ask("updateContent", {"path": "/main.py", "content": "print('k8s')\n"})
            await runner.ask("createFile", {"path": "/new.txt"})
            await runner.ask("delete", {"path": "/README.md"})
        finally:
            await runner.close()

        stopped = await client.delete(f"/api/repl/session/{repl['id']}")
        assert stopped.status_code == 200, stopped.text
        assert cluster.sim.managed(repl["id"]) == []
        assert cluster.sim.count("patch", "pods/ephemeralcontainers") == 1
        # The push holds the storage keys; it must not see, or be seen by, the owner's
        # processes in the runner.
        assert [c.get("targetContainerName") for c in cluster.sim.ephemeral] == [None]

        again = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(again["wsUrl"])
        try:
            assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == (
                "print('k8s')\n")
            loaded = await runner.ask("Connection", None, "Loaded")
            assert sorted(e["name"] for e in loaded["rootContents"]) == ["main.py", "new.txt"]
        finally:
            await runner.close()
        await client.delete(f"/api/repl/session/{repl['id']}")


async def _failed_start(client: httpx.AsyncClient, repl_id: str) -> str:
    response = await client.get(f"/api/repl/session/{repl_id}")
    assert response.status_code == 502, response.text
    listed = (await client.get("/api/repl")).json()
    assert [r["state"] for r in listed if r["id"] == repl_id] == ["failed"]
    error: str = response.json()["error"]
    return error


async def test_an_image_that_cannot_be_pulled_fails_the_start_and_leaves_nothing(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.missing_images.add("devex-runner-python:latest")
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        error = await _failed_start(client, repl["id"])
        assert "devex-runner-python:latest cannot be pulled" in error
        assert cluster.sim.managed(repl["id"]) == []
        # Once the image exists, the same REPL starts.
        cluster.sim.missing_images.clear()
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_an_init_container_failure_fails_the_start(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.broken_storage_for.add("init")
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        assert "pulling the files failed (exit code 1)" in await _failed_start(client, repl["id"])
        assert cluster.sim.managed(repl["id"]) == []


async def test_a_crash_loop_fails_the_start(kube_settings: MakeSettings, cluster: Cluster) -> None:
    cluster.sim.crash_images.add("devex-runner-node:latest")
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client, "node")
        assert "the runner keeps crashing" in await _failed_start(client, repl["id"])
        assert cluster.sim.managed(repl["id"]) == []


async def test_a_start_that_never_becomes_ready_times_out(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.stuck_images.add("devex-runner-python:latest")
    async with live_portal(kube_settings(DEVEX_START_TIMEOUT=3)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        assert "did not become ready within 3 s" in await _failed_start(client, repl["id"])
        assert cluster.sim.managed(repl["id"]) == []


async def test_an_api_error_while_creating_cleans_up_what_was_made(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.faults.append(Fault("create", "services", status=500))
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        error = await _failed_start(client, repl["id"])
        assert "creating the workspace failed: the Kubernetes API answered 500" in error
        assert cluster.sim.managed(repl["id"]) == []
        assert cluster.sim.count("create", "secrets") == 1


async def test_a_failed_push_keeps_the_workload_and_a_later_stop_saves(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        await write_file(session["wsUrl"], "/main.py", "precious\n")
        made = cluster.sim.managed(repl["id"])

        cluster.sim.broken_storage_for.add("ephemeral")
        failed = await client.delete(f"/api/repl/session/{repl['id']}")
        assert failed.status_code == 503
        assert "saving the files failed" in failed.json()["error"]
        assert cluster.sim.managed(repl["id"]) == made
        assert (await client.get("/api/repl")).json()[0]["state"] == "running"

        cluster.sim.broken_storage_for.clear()
        assert (await client.delete(f"/api/repl/session/{repl['id']}")).status_code == 200
        assert cluster.sim.managed(repl["id"]) == []
        again = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(again["wsUrl"])
        assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == "precious\n"
        await runner.close()
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_a_stop_while_the_runner_crash_loops_still_saves_the_files(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        await write_file(session["wsUrl"], "/main.py", "saved, then crashed\n")

        cluster.sim.crash_runner(repl["id"])
        async with asyncio.timeout(15), cluster.sim.changed:
            await cluster.sim.changed.wait_for(
                lambda: _runner_waiting(cluster, repl["id"]) == "CrashLoopBackOff")

        # The files are still in the pod's emptyDir: the push reaches them without the runner.
        stopped = await client.delete(f"/api/repl/session/{repl['id']}")
        assert stopped.status_code == 200, stopped.text
        assert cluster.sim.count("patch", "pods/ephemeralcontainers") == 1
        assert cluster.sim.managed(repl["id"]) == []
        again = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(again["wsUrl"])
        assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == (
            "saved, then crashed\n")
        await runner.close()
        await client.delete(f"/api/repl/session/{repl['id']}")


def _runner_waiting(cluster: Cluster, repl_id: str) -> str | None:
    """Why the REPL's runner container is waiting, if it is."""
    for name, pod in cluster.sim.objects[("", "pods")].items():
        if name.startswith(f"repl-{repl_id}-"):
            for item in pod.get("status", {}).get("containerStatuses", []):
                if item["name"] == "runner":
                    reason: str | None = item["state"].get("waiting", {}).get("reason")
                    return reason
    return None


async def test_two_concurrent_starts_make_one_deployment(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        answers = await asyncio.gather(*(client.get(f"/api/repl/session/{repl['id']}")
                                         for _ in range(3)))
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert len({a.json()["url"].split("?")[0] for a in answers}) == 1
        assert cluster.sim.count("create", "deployments") == 1
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_a_stop_during_a_start_cancels_it_and_cleans_up(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.stuck_images.add("devex-runner-python:latest")
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        assert (await client.get(f"/api/repl/session/{repl['id']}?wait=false")
                ).status_code == 202
        for _ in range(100):
            if cluster.sim.count("create", "ingresses"):
                break
            await asyncio.sleep(0.05)
        stopped = await client.delete(f"/api/repl/session/{repl['id']}")
        assert stopped.status_code == 200, stopped.text
        assert cluster.sim.managed(repl["id"]) == []
        assert (await client.get("/api/repl")).json()[0]["state"] == "stopped"


async def test_the_kubernetes_api_timing_out_during_a_start(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    cluster.sim.faults.append(Fault("create", "deployments", hang=30))
    settings = kube_settings(DEVEX_START_TIMEOUT=20, DEVEX_KUBE_REQUEST_TIMEOUT=2)
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        failed = await client.get(f"/api/repl/session/{repl['id']}")
        assert failed.status_code == 502
        assert "the Kubernetes API did not answer within 2 s" in failed.json()["error"]
        assert cluster.sim.managed(repl["id"]) == []
        cluster.sim.faults.clear()
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_a_hung_api_during_clean_up_still_ends_the_start_and_leaves_nothing(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    # The start times out, then removing its Deployment hangs: the owner still gets the
    # reason promptly, and once the API answers again reconciliation removes what is left.
    cluster.sim.stuck_images.add("devex-runner-python:latest")
    cluster.sim.faults.append(Fault("delete", "deployments", hang=120))
    settings = kube_settings(DEVEX_START_TIMEOUT=5, DEVEX_KUBE_REQUEST_TIMEOUT=1,
                             DEVEX_RECONCILE_INTERVAL=0.5)
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        assert "did not become ready within 5 s" in await _failed_start(client, repl["id"])
        assert cluster.sim.objects[("apps", "deployments")], "the hung delete left it"

        for _ in range(200):
            if [r["state"] for r in (await client.get("/api/repl")).json()] == ["stopped"]:
                break
            await asyncio.sleep(0.1)
        assert [r["state"] for r in (await client.get("/api/repl")).json()] == ["stopped"]
        assert cluster.sim.managed(repl["id"]) == []

        cluster.sim.stuck_images.clear()
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_a_stop_on_another_replica_ends_a_start_that_is_stuck(
    kube_settings: MakeSettings, cluster: Cluster, redis_url: str
) -> None:
    # The replica that stops cannot cancel the other's start: it waits for that start
    # to clean up, which it does when it times out with no progress left to report.
    cluster.sim.stuck_images.add("devex-runner-python:latest")
    first, second = (kube_settings(DEVEX_START_TIMEOUT=6) for _ in range(2))
    async with live_portal(first) as one, live_portal(second) as other, \
            client_for(one) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        started = await client.get(f"/api/repl/session/{repl['id']}?wait=false")
        assert started.status_code == 202
        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        for _ in range(100):  # until the start has said its last word
            event = await redis.hget(f"activeSession:{repl['id']}", "event")
            if event and json.loads(event)["message"] == "Starting the runner":
                break
            await asyncio.sleep(0.05)
        await redis.aclose()
        async with client_for(other, cookies=dict(client.cookies)) as elsewhere:
            stopped = await elsewhere.delete(f"/api/repl/session/{repl['id']}")
            assert stopped.status_code == 200, stopped.text
            assert [r["state"] for r in (await elsewhere.get("/api/repl")).json()] == [
                "stopped"]
        assert cluster.sim.managed(repl["id"]) == []
