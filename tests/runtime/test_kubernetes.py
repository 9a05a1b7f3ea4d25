"""Workspaces on Kubernetes, against a simulated API server over HTTP whose kubelet runs
the real runner and sync commands against moto's S3 server."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx

from tests.conftest import MakeSettings
from tests.runtime.conftest import Cluster
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal
from tests.support.runner_client import RunnerClient


async def new_repl(client: httpx.AsyncClient, template: str = "python") -> dict[str, Any]:
    response = await client.post("/api/repl/new", json={"template": template,
                                                        "replName": "work"})
    assert response.status_code == 201, response.text
    repl: dict[str, Any] = response.json()
    return repl


async def test_a_round_trip_on_kubernetes_keeps_edits_and_deletions(
    kube_settings: MakeSettings, cluster: Cluster
) -> None:
    async with live_portal(kube_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)

        started = await client.get(f"/api/repl/session/{repl['id']}")
        assert started.status_code == 200, started.text
        session = started.json()
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
