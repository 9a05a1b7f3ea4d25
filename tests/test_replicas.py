"""Two portal processes sharing Redis and storage work as one: start on one, watch the
progress on the other, stop on the other."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import s3_env
from tests.support.processes import ServerProcess, free_port, wait_for_port


@pytest.fixture
def replicas(
    tmp_path: Path, redis_url: str, moto_server: ServerProcess, s3_bucket: str
) -> Iterator[list[str]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
    env.update({"REDIS_URL": redis_url, "DEVEX_DATA_DIR": str(tmp_path / "shared"),
                "SESSION_SECRET": "replica-secret-" + "r" * 32,
                **s3_env(s3_bucket, f"http://127.0.0.1:{moto_server.port}")})
    processes, bases = [], []
    for number in range(2):
        port = free_port()
        log = (tmp_path / f"portal-{number}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "portal", "serve"],
                                   env={**env, "PORT": str(port)}, stdout=log,
                                   stderr=subprocess.STDOUT)
        wait_for_port(port, process)
        processes.append(process)
        bases.append(f"http://127.0.0.1:{port}")
    yield bases
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


async def test_start_on_one_watch_and_stop_on_the_other(replicas: list[str]) -> None:
    first, second = replicas
    async with httpx.AsyncClient(base_url=first, timeout=60) as one:
        await one.post("/auth/dev/login", json={"login": "alice"})
        cookies = dict(one.cookies)
        repl = (await one.post("/api/repl/new", json={"template": "python",
                                                      "replName": "shared"})).json()
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        events_url = second.replace("http", "ws") + f"/api/repl/{repl['id']}/events"
        async with connect(events_url, additional_headers={"Cookie": header}) as events:
            assert json.loads(await events.recv())["state"] == "stopped"
            accepted = await one.get(f"/api/repl/session/{repl['id']}?wait=false")
            assert accepted.status_code == 202
            seen: list[dict[str, object]] = []
            while not (seen and seen[-1].get("ready")):
                seen.append(json.loads(await asyncio.wait_for(events.recv(), 60)))
            assert seen[0]["message"] == "Start requested"

            async with httpx.AsyncClient(base_url=second, cookies=cookies, timeout=60) as two:
                assert (await two.get("/api/repl")).json()[0]["state"] == "running"
                stopped = await two.delete(f"/api/repl/session/{repl['id']}")
                assert stopped.status_code == 200, stopped.text
            states: list[str] = []
            while not states or states[-1] != "stopped":
                states.append(json.loads(await asyncio.wait_for(events.recv(), 60))["state"])
        assert (await one.get("/api/repl")).json()[0]["state"] == "stopped"
