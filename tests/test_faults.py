"""Faults, each ending in a state a person can see and recover from, with no file lost
and no workload left unowned: Redis restarting, storage failing during a stop, and the
portal process killed during a start and a stop. (The Kubernetes API's faults are in
tests/runtime/test_kubernetes.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from portal.store.embedded import redis_server_binary
from tests.conftest import MakeSettings, s3_client, s3_env
from tests.support.clients import client_for, dev_sign_in
from tests.support.faulty_proxy import FaultyProxy
from tests.support.live import live_portal
from tests.support.processes import ServerProcess, free_port, wait_for_port
from tests.support.runner_client import RunnerClient


class RestartableRedis:
    """A Redis of this test's own, persisting to disk, that the test can restart."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.server: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = ServerProcess(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""], self.port, self.folder / "redis.log")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    redis = RestartableRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def _state(client: httpx.AsyncClient, repl_id: str) -> str:
    listed = (await client.get("/api/repl")).json()
    return str(next(r["state"] for r in listed if r["id"] == repl_id))


async def _settle(client: httpx.AsyncClient, repl_id: str, wanted: set[str],
                  seconds: float = 30) -> str:
    state = ""
    for _ in range(int(seconds * 10)):
        state = await _state(client, repl_id)
        if state in wanted:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{repl_id} stuck in {state}")


async def test_redis_restarting_during_lists_and_a_start(
    make_settings: MakeSettings, own_redis: RestartableRedis
) -> None:
    async with live_portal(make_settings(REDIS_URL=own_redis.url)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "r"})).json()
        lists = [asyncio.create_task(client.get("/api/repl")) for _ in range(20)]
        await asyncio.to_thread(own_redis.restart)
        answers = await asyncio.gather(*lists)
        assert {a.status_code for a in answers} == {200}
        assert (await client.get("/api/repl")).json()[0]["id"] == repl["id"]

        assert (await client.get(f"/api/repl/session/{repl['id']}?wait=false")
                ).status_code == 202
        await asyncio.to_thread(own_redis.restart)
        assert await _settle(client, repl["id"], {"running", "failed"}) == "running"
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(session["wsUrl"])
        await runner.ask("updateContent", {"path": "/main.py", "content": "survived\n"})
        await runner.close()
        assert (await client.delete(f"/api/repl/session/{repl['id']}")).status_code == 200


async def test_storage_failing_during_a_stop_keeps_everything(
    make_settings: MakeSettings, moto_server: ServerProcess, s3_bucket: str, tmp_path: Path
) -> None:
    async with FaultyProxy(moto_server.port) as proxy:
        settings = make_settings(**s3_env(s3_bucket, proxy.url))
        async with live_portal(settings) as base, client_for(base) as client:
            await dev_sign_in(client, "alice")
            repl = (await client.post("/api/repl/new", json={"template": "python",
                                                             "replName": "s"})).json()
            session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
            runner = await RunnerClient.open(session["wsUrl"])
            await runner.ask("updateContent", {"path": "/main.py", "content": "unsaved\n"})
            await runner.close()
            proxy.fail_now()
            failed = await client.delete(f"/api/repl/session/{repl['id']}")
            assert failed.status_code == 503
            assert "could not save the files" in failed.json()["error"]
            assert await _state(client, repl["id"]) == "running"
            assert (tmp_path / "data" / "workspaces" / repl["id"] / "main.py").read_text() == (
                "unsaved\n")
            proxy.heal()
            assert (await client.delete(f"/api/repl/session/{repl['id']}")).status_code == 200
    s3 = s3_client(moto_server)
    saved = s3.get_object(Bucket=s3_bucket, Key=f"alice/{repl['id']}/main.py")
    assert saved["Body"].read() == b"unsaved\n"


def _portal(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "portal", "serve"],
                                   env={**env, "PORT": str(port)}, stdout=out,
                                   stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


async def test_the_portal_killed_during_a_start_and_a_stop(
    tmp_path: Path, redis_url: str, moto_server: ServerProcess, s3_bucket: str
) -> None:
    async with FaultyProxy(moto_server.port) as proxy:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
        env.update({"REDIS_URL": redis_url, "DEVEX_DATA_DIR": str(tmp_path / "data"),
                    "SESSION_SECRET": "kill-test-" + "k" * 32, "DEVEX_OPERATION_LEASE": "2",
                    "DEVEX_RECONCILE_INTERVAL": "0.5", **s3_env(s3_bucket, proxy.url)})
        port, log = free_port(), tmp_path / "portal.log"
        base = f"http://127.0.0.1:{port}"
        portal = _portal(env, port, log)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await dev_sign_in(client, "alice")
            repl = (await client.post("/api/repl/new", json={"template": "python",
                                                             "replName": "kill"})).json()
            # Killed during a start: the pull crawls, and the portal dies under it.
            proxy.latency = 0.5
            await client.get(f"/api/repl/session/{repl['id']}?wait=false")
            await asyncio.sleep(0.3)
            portal.send_signal(signal.SIGKILL)
            portal.wait()
            proxy.latency = 0
            portal = _portal(env, port, log)
            assert await _settle(client, repl["id"], {"failed", "stopped"}) == "failed"
            assert not (tmp_path / "data" / "workspaces" / repl["id"]).exists()

            session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
            runner = await RunnerClient.open(session["wsUrl"])
            await runner.ask("updateContent", {"path": "/main.py", "content": "precious\n"})
            await runner.close()
            # Killed during a stop: the push crawls, and the portal dies under it.
            proxy.latency = 0.5
            stopping = asyncio.create_task(client.delete(f"/api/repl/session/{repl['id']}"))
            await asyncio.sleep(0.3)
            portal.send_signal(signal.SIGKILL)
            portal.wait()
            stopping.cancel()
            proxy.latency = 0
            portal = _portal(env, port, log)
            assert await _settle(client, repl["id"], {"stopped"}) == "stopped"
            assert not (tmp_path / "data" / "workspaces" / repl["id"]).exists()
        portal.send_signal(signal.SIGTERM)
        portal.wait(30)
    s3 = s3_client(moto_server)
    saved = s3.get_object(Bucket=s3_bucket, Key=f"alice/{repl['id']}/main.py")
    assert saved["Body"].read() == b"precious\n"
