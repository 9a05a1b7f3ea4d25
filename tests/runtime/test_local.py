"""Workspaces as local processes, end to end over real wires: the portal starts a runner,
proxies its WebSocket, saves the files on stop and brings them back on the next start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in, new_repl
from tests.support.live import live_portal
from tests.support.runner_client import RunnerClient


async def test_a_round_trip_keeps_edits_and_deletions(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)

        started = await client.get(f"/api/repl/session/{repl['id']}")
        assert started.status_code == 200, started.text
        session = started.json()
        assert session["replId"] == repl["id"] and session["replName"] == "work"
        assert session["url"].startswith(f"{base}/{repl['id']}/?token=")
        assert session["wsUrl"].startswith(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/")
        assert (await client.get("/api/repl")).json()[0]["isActive"] is True

        runner = await RunnerClient.open(session["wsUrl"])
        try:
            loaded = await runner.ask("Connection", None, "Loaded")
            assert {"name": "main.py", "isDir": False} in loaded["rootContents"]
            await runner.ask("updateContent", {"path": "/main.py",
                                               "content": "print('edited')\n"})
            await runner.ask("createFile", {"path": "/notes.txt"})
            await runner.ask("updateContent", {"path": "/notes.txt", "content": "keep me"})
            await runner.ask("delete", {"path": "/README.md"})
        finally:
            await runner.close()

        stopped = await client.delete(f"/api/repl/session/{repl['id']}")
        assert stopped.status_code == 200, stopped.text
        assert (await client.get("/api/repl")).json()[0]["isActive"] is False
        files = tmp_path / "data" / "files" / "alice" / repl["id"]
        assert sorted(p.name for p in files.iterdir()) == ["main.py", "notes.txt"]
        assert not (tmp_path / "data" / "workspaces" / repl["id"]).exists()

        again = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(again["wsUrl"])
        try:
            assert (await runner.ask("fetchContent", {"path": "/main.py"}))["content"] == (
                "print('edited')\n")
            loaded = await runner.ask("Connection", None, "Loaded")
            assert sorted(e["name"] for e in loaded["rootContents"]) == ["main.py", "notes.txt"]
        finally:
            await runner.close()
        assert (await client.delete(f"/api/repl/session/{repl['id']}")).status_code == 200


async def test_a_terminal_sees_none_of_the_portals_settings(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The portal reads its settings from the environment; a workspace must not inherit
    # them, whatever their names.
    monkeypatch.setenv("SESSION_SECRET", "session-secret-canary")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-password-canary@127.0.0.1:1/0")
    monkeypatch.setenv("DEVEX_SOME_FUTURE_KEY", "future-canary")
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        runner = await RunnerClient.open(session["wsUrl"])
        try:
            terminal = (await runner.ask("requestTerminal", {}, "terminalConnected"))
            await runner.send("terminalInput", {"data": "env; echo env-done\n",
                                                "sessionId": terminal["sessionId"]})
            output = await runner.terminal_output_until("\nenv-done")
        finally:
            await runner.close()
        await client.delete(f"/api/repl/session/{repl['id']}")
    assert "PATH=" in output
    for canary in ("session-secret-canary", "redis-password-canary", "future-canary",
                   "DEVEX_RUNNER_SECRET"):
        assert canary not in output


async def test_the_workspace_page_opens_through_the_proxy_for_the_owner_only(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        session = (await client.get(f"/api/repl/session/{repl['id']}")).json()
        async with client_for(base) as stranger:
            assert (await stranger.get(f"/{repl['id']}/")).status_code == 401
        page = await client.get(session["url"], follow_redirects=True)
        assert page.status_code == 200 and repl["id"] in page.text
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_progress_events_arrive_from_requested_to_ready(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        ws = base.replace("http://", "ws://") + f"/api/repl/{repl['id']}/events"
        async with connect(ws, additional_headers={"Cookie": cookie}) as events:
            assert json.loads(await events.recv())["state"] == "stopped"
            accepted = await client.get(f"/api/repl/session/{repl['id']}?wait=false")
            assert accepted.status_code == 202
            seen: list[dict[str, Any]] = []
            while not seen or not (seen[-1].get("ready") or seen[-1].get("failed")):
                seen.append(json.loads(await asyncio.wait_for(events.recv(), 30)))
        assert seen[0] == {"progress": 0, "message": "Start requested", "state": "starting"}
        assert seen[-1]["ready"] is True and seen[-1]["state"] == "running"
        assert seen[-1]["url"].startswith(f"/{repl['id']}/?token=")
        assert [e["progress"] for e in seen] == sorted(e["progress"] for e in seen)

        # A watcher that connects late gets the current state first.
        async with connect(ws, additional_headers={"Cookie": cookie}) as late:
            assert json.loads(await late.recv())["state"] == "running"
            stop = asyncio.create_task(client.delete(f"/api/repl/session/{repl['id']}"))
            states: list[str] = []
            while not states or states[-1] != "stopped":
                states.append(json.loads(await asyncio.wait_for(late.recv(), 30))["state"])
            assert (await stop).status_code == 200
        assert states[0] == "stopping"


async def test_two_starts_at_once_make_one_workload(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        first, second = await asyncio.gather(
            client.get(f"/api/repl/session/{repl['id']}"),
            client.get(f"/api/repl/session/{repl['id']}"),
        )
        assert first.status_code == second.status_code == 200
        records = list((tmp_path / "data" / "workspaces").glob("*.json"))
        assert len(records) == 1
        await client.delete(f"/api/repl/session/{repl['id']}")


async def test_a_watcher_on_one_portal_sees_a_start_made_through_another(
    make_settings: MakeSettings,
) -> None:
    settings_a = make_settings()
    settings_b = make_settings()  # same Redis and data directory, its own port
    async with live_portal(settings_a) as base_a, live_portal(settings_b) as base_b, \
            client_for(base_a) as client:
        await dev_sign_in(client, "alice")
        repl = await new_repl(client)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        ws = base_b.replace("http://", "ws://") + f"/api/repl/{repl['id']}/events"
        async with connect(ws, additional_headers={"Cookie": cookie}) as events:
            assert json.loads(await events.recv())["state"] == "stopped"
            await client.get(f"/api/repl/session/{repl['id']}?wait=false")
            last: dict[str, Any] = {}
            while not last.get("ready"):
                last = json.loads(await asyncio.wait_for(events.recv(), 30))
        assert last["state"] == "running"
        async with client_for(base_b, cookies=dict(client.cookies)) as other:
            assert (await other.delete(f"/api/repl/session/{repl['id']}")).status_code == 200
