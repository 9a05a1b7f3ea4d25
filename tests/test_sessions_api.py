"""Session rules through the JSON API, on local workspaces: conflicts, the runner's own
idle stop, deleting a running REPL, the one-step create, and who may watch events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


async def _repl(client: httpx.AsyncClient) -> dict[str, Any]:
    created: dict[str, Any] = (await client.post(
        "/api/repl/new", json={"template": "python", "replName": "w"})).json()
    return created


async def _state(client: httpx.AsyncClient, repl_id: str) -> str:
    listed = (await client.get("/api/repl")).json()
    return str(next(r["state"] for r in listed if r["id"] == repl_id))


async def _wait_for_state(client: httpx.AsyncClient, repl_id: str, state: str,
                          seconds: float = 15) -> None:
    # Polled through the API, as a client sees it, rather than watched from inside.
    async with asyncio.timeout(seconds):
        while await _state(client, repl_id) != state:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_starting_while_stopping_answers_409_saying_why(
    make_settings: MakeSettings, redis_url: str
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await _repl(client)
        await client.get(f"/api/repl/session/{repl['id']}")
        redis = aioredis.Redis.from_url(redis_url)
        await redis.hset(f"activeSession:{repl['id']}", "state", "stopping")
        conflict = await client.get(f"/api/repl/session/{repl['id']}")
        assert conflict.status_code == 409
        assert "stopping" in conflict.json()["error"]
        await redis.hset(f"activeSession:{repl['id']}", "state", "running")
        await redis.aclose()
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_the_runner_route_needs_the_sessions_own_secret(
    make_settings: MakeSettings, redis_url: str, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await _repl(client)
        await client.get(f"/api/repl/session/{repl['id']}")
        for headers in ({}, {"Authorization": "Bearer wrong-secret-wrong-secret-wrong"}):
            refused = await client.delete(f"/api/runner/{repl['id']}", headers=headers)
            assert refused.status_code == 404
        assert await _state(client, repl["id"]) == "running"

        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        secret = str(await redis.hget(f"activeSession:{repl['id']}", "secret"))
        await redis.aclose()
        async with client_for(base) as runner:
            accepted = await runner.delete(f"/api/runner/{repl['id']}",
                                           headers={"Authorization": f"Bearer {secret}"})
            assert accepted.status_code == 202
        for _ in range(100):
            if await _state(client, repl["id"]) == "stopped":
                break
            await asyncio.sleep(0.1)
        assert await _state(client, repl["id"]) == "stopped"


async def test_an_idle_workspace_stops_itself_with_its_files_saved(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings(DEVEX_IDLE_TIMEOUT=1)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        repl = await _repl(client)
        assert (await client.get(f"/api/repl/session/{repl['id']}")).status_code == 200
        workspace = tmp_path / "data" / "workspaces" / repl["id"]
        (workspace / "scratch.txt").write_text("written in the workspace")
        await _wait_for_state(client, repl["id"], "stopped")
        saved = tmp_path / "data" / "files" / "alice" / repl["id"] / "scratch.txt"
        assert saved.read_text() == "written in the workspace"


async def test_an_open_workspace_connection_is_activity_and_closing_it_starts_the_clock(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings(DEVEX_IDLE_TIMEOUT=2)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        repl = await _repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        async with connect(session["wsUrl"]):
            await asyncio.sleep(5)  # more than twice the idle period, with someone connected
            assert await _state(client, repl["id"]) == "running"
        await _wait_for_state(client, repl["id"], "stopped")


async def test_deleting_a_running_repl_stops_it_first(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await _repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        assert (await client.delete(f"/api/repl/{repl['id']}")).status_code == 200
        assert (await client.get("/api/repl")).json() == []
        assert not (tmp_path / "data" / "workspaces" / repl["id"]).exists()
        assert not (tmp_path / "data" / "files" / "alice" / repl["id"]).exists()
        async with client_for(base) as browser:
            assert (await browser.get(session["url"])).status_code == 404


async def test_the_one_step_create_answers_where_to_reach_the_repl(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        made = await client.post("/api/repl/create", json={"template": "node",
                                                           "replName": "quick"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["replName"] == "quick" and body["state"] == "running"
        assert body["url"].startswith(f"{base}/{body['replId']}/?token=")
        page = await client.get(body["url"], follow_redirects=True)
        assert page.status_code == 200
        await client.delete(f"/api/repl/session/{body['replId']}")


async def test_only_the_owner_may_watch_events(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as alice, client_for(
        base
    ) as mallory:
        await dev_sign_in(alice, "alice")
        await dev_sign_in(mallory, "mallory")
        repl = await _repl(alice)
        ws = base.replace("http://", "ws://") + f"/api/repl/{repl['id']}/events"
        theirs = "; ".join(f"{k}={v}" for k, v in mallory.cookies.items())
        for header in (theirs, ""):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(ws, additional_headers={"Cookie": header} if header else {}):
                    pass
            assert refused.value.response.status_code in (401, 404)
        owner = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
        with pytest.raises(InvalidStatus) as forged:
            async with connect(ws, additional_headers={"Cookie": owner},
                               origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert forged.value.response.status_code == 403
