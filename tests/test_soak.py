"""A soak: 50 random start / edit / stop cycles over 5 REPLs, with faults injected at
random (storage failing during a stop, Redis restarting, a runner killed). At the end,
every file in storage equals its last saved write, and deleted files stay deleted."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from pathlib import Path

import httpx2 as httpx

from tests.conftest import MakeSettings, s3_client, s3_env
from tests.support.clients import client_for, dev_sign_in
from tests.support.faulty_proxy import FaultyProxy
from tests.support.live import live_portal
from tests.support.processes import ServerProcess
from tests.support.runner_client import RunnerClient
from tests.test_faults import RestartableRedis

CYCLES, REPLS, SEED = 50, 5, 20261203


async def _retrying(client: httpx.AsyncClient, method: str, path: str,
                    attempts: int = 40) -> httpx.Response:
    """The request, repeated while a fault is still being recovered from."""
    for _ in range(attempts):
        answer = await client.request(method, path)
        if answer.status_code == 200:
            return answer
        await asyncio.sleep(0.25)
    raise AssertionError(f"{method} {path} gave up: {answer.status_code} {answer.text}")


async def test_soak(
    make_settings: MakeSettings, moto_server: ServerProcess, s3_bucket: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    redis = RestartableRedis(tmp_path)
    redis.start()
    expected: dict[str, dict[str, str]] = {}
    faults = {"storage": 0, "redis": 0, "runner": 0}
    try:
        async with FaultyProxy(moto_server.port) as proxy:
            settings = make_settings(
                REDIS_URL=redis.url, DEVEX_MAX_ACTIVE_PER_USER=REPLS,
                DEVEX_RECONCILE_INTERVAL=0.5, DEVEX_OPERATION_LEASE=3,
                DEVEX_RATE_START=1000, DEVEX_RATE_CREATE=1000,
                **s3_env(s3_bucket, proxy.url))
            async with live_portal(settings) as base, client_for(base) as client:
                await dev_sign_in(client, "soak")
                ids = []
                for number in range(REPLS):
                    made = await client.post("/api/repl/new", json={
                        "template": "python", "replName": f"soak{number}"})
                    ids.append(made.json()["id"])
                    expected[ids[-1]] = {"main.py": (Path(__file__).parents[1] /
                                         "repl_templates/python/files/main.py").read_text(),
                                         "README.md": (Path(__file__).parents[1] /
                                         "repl_templates/python/files/README.md").read_text()}
                for cycle in range(CYCLES):
                    repl_id = rng.choice(ids)
                    started = await _retrying(client, "GET", f"/api/repl/session/{repl_id}")
                    runner = await RunnerClient.open(started.json()["wsUrl"])
                    for _ in range(rng.randint(1, 3)):
                        name = rng.choice(["main.py", "notes.txt", "src/a.py", "README.md"])
                        if rng.random() < 0.2 and name in expected[repl_id]:
                            answer = await runner.ask("delete", {"path": f"/{name}"})
                            assert answer["success"] is True
                            del expected[repl_id][name]
                        else:
                            content = f"cycle {cycle} {rng.random()}\n"
                            answer = await runner.ask("updateContent",
                                                      {"path": f"/{name}", "content": content})
                            assert answer == {"success": True}
                            expected[repl_id][name] = content
                    await runner.close()

                    fault = rng.choice([None, None, "storage", "redis", "runner"])
                    if fault == "storage":
                        proxy.fail_now()
                        failed = await client.delete(f"/api/repl/session/{repl_id}")
                        assert failed.status_code == 503, failed.text
                        proxy.heal()
                    elif fault == "redis":
                        await asyncio.to_thread(redis.restart)
                    elif fault == "runner":
                        record = json.loads((tmp_path / "data" / "workspaces" /
                                             f"{repl_id}.json").read_text())
                        os.killpg(record["pid"], signal.SIGKILL)
                    if fault:
                        faults[fault] += 1
                    await _retrying(client, "DELETE", f"/api/repl/session/{repl_id}")
                    listed = {r["id"]: r["state"] for r in (await client.get("/api/repl")).json()}
                    assert listed[repl_id] == "stopped", listed
    finally:
        redis.stop()

    s3 = s3_client(moto_server)
    checked = 0
    for repl_id, files in expected.items():
        listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix=f"soak/{repl_id}/")
        stored = {item["Key"].split("/", 2)[2] for item in listed.get("Contents", [])}
        assert stored == set(files), (repl_id, stored, set(files))
        for name, content in files.items():
            body = s3.get_object(Bucket=s3_bucket, Key=f"soak/{repl_id}/{name}")["Body"].read()
            assert body.decode() == content, (repl_id, name)
            checked += 1
    print(f"\nsoak: {CYCLES} cycles, {sum(faults.values())} faults {faults}, "
          f"{checked} files checked")
