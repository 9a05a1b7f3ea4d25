"""The runner speaks the original Devex protocol over a real WebSocket, confined to its
workspace, and only to holders of its REPL's credential."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from websockets.exceptions import InvalidStatus

from portal import credentials
from tests.support.processes import free_port, wait_for_port
from tests.support.runner_client import RunnerClient

REPL_ID = "0123456789abcdef"


class Runner:
    def __init__(self, port: int, secret: str, workspace: Path) -> None:
        self.port, self.secret, self.workspace = port, secret, workspace
        self.base = f"http://127.0.0.1:{port}/{REPL_ID}"

    def ws_url(self, token: str | None = None) -> str:
        token = credentials.issue(self.secret, REPL_ID) if token is None else token
        return f"ws://127.0.0.1:{self.port}/{REPL_ID}/api/v1/repl/ws?token={token}"


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "main.py").write_text("print('hello from main')\n")
    (workspace / "pkg").mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    port, secret = free_port(), secrets.token_hex(32)
    env = {**os.environ, "DEVEX_REPL_ID": REPL_ID, "DEVEX_RUNNER_SECRET": secret,
           "DEVEX_WORKSPACE_DIR": str(workspace), "DEVEX_RUNNER_HOST": "127.0.0.1",
           "DEVEX_RUNNER_PORT": str(port), "DEVEX_SHELL": "/bin/bash"}
    process = subprocess.Popen([sys.executable, "-m", "portal", "runner"], env=env)
    wait_for_port(port, process)
    yield Runner(port, secret, workspace)
    process.terminate()
    process.wait(10)


async def test_the_file_protocol_round_trip(runner: Runner) -> None:
    client = await RunnerClient.open(runner.ws_url())
    try:
        loaded = await client.ask("Connection", None, "Loaded")
        assert loaded == {"rootContents": [{"name": "pkg", "isDir": True},
                                           {"name": "main.py", "isDir": False}]}
        assert await client.ask("fetchContent", {"path": "/main.py"}) == {
            "content": "print('hello from main')\n", "path": "/main.py"}

        assert await client.ask("createFile", {"path": "/pkg/mod.py"}) == {
            "success": True, "path": "/pkg/mod.py"}
        assert await client.ask("updateContent", {"path": "/pkg/mod.py", "content": "X = 1\n"}
                                ) == {"success": True}
        assert await client.ask("fetchDir", {"Dir": "/pkg"}) == {
            "contents": [{"name": "mod.py", "isDir": False}], "path": "/pkg"}

        # The original frontend sends diff-match-patch patches against the current text.
        from diff_match_patch import diff_match_patch

        dmp = diff_match_patch()
        patch = dmp.patch_toText(dmp.patch_make("X = 1\n", "X = 2\nY = 3\n"))
        assert await client.ask("updateContent", {"path": "pkg/mod.py", "patch": patch}
                                ) == {"success": True}
        assert (runner.workspace / "pkg" / "mod.py").read_text() == "X = 2\nY = 3\n"

        assert (await client.ask("createFolder", {"path": "/docs"}))["success"] is True
        assert await client.ask("rename", {"oldPath": "/pkg/mod.py", "newPath": "/docs/m.py"}
                                ) == {"success": True, "oldPath": "/pkg/mod.py",
                                      "newPath": "/docs/m.py"}
        assert (await client.ask("copy", {"sourcePath": "/docs", "targetPath": "/docs2"})
                )["success"] is True
        assert (runner.workspace / "docs2" / "m.py").read_text() == "X = 2\nY = 3\n"
        assert (await client.ask("cut", {"sourcePath": "/docs2/m.py"}))["success"] is True
        assert await client.ask("paste", {"targetPath": "/pkg/back.py"}) == {
            "success": True, "sourcePath": "/docs2/m.py", "targetPath": "/pkg/back.py"}
        assert await client.ask("delete", {"path": "/docs"}) == {"success": True,
                                                                 "path": "/docs"}
        assert sorted(p.relative_to(runner.workspace).as_posix()
                      for p in runner.workspace.rglob("*")) == [
            "docs2", "main.py", "pkg", "pkg/back.py"]
    finally:
        await client.close()


@pytest.mark.parametrize("path", ["../secret.txt", "/../secret.txt", "pkg/../../secret.txt",
                                  "/escape-link/secret.txt"])
async def test_paths_outside_the_workspace_are_refused(runner: Runner, path: str) -> None:
    (runner.workspace / "escape-link").symlink_to(runner.workspace.parent)
    client = await RunnerClient.open(runner.ws_url())
    try:
        answer = await client.ask("fetchContent", {"path": path})
        assert "outside the workspace" in answer["error"]
        answer = await client.ask("updateContent", {"path": path, "content": "pwned"})
        assert "outside the workspace" in answer["error"]
        answer = await client.ask("rename", {"oldPath": "/main.py", "newPath": path})
        assert "outside the workspace" in answer["error"]
        assert (runner.workspace.parent / "secret.txt").read_text() == "outside"
    finally:
        await client.close()


async def test_bad_messages_get_an_error_and_the_connection_stays_usable(runner: Runner) -> None:
    client = await RunnerClient.open(runner.ws_url())
    try:
        await client.connection.send("{not json")
        assert await client.expect("error") == {"message": "message is not JSON"}
        await client.send("teleport", {})
        assert await client.expect("error") == {"message": "unknown event 'teleport'"}
        await client.connection.send("[1]")
        assert "message must be" in (await client.expect("error"))["message"]
        await client.connection.send("x" * (7 << 20))
        assert "larger than" in (await client.expect("error"))["message"]
        assert (await client.ask("fetchContent", {}))["error"] == "path is required"
        assert (await client.ask("fetchContent", {"path": "/nope.py"}))["error"] == (
            "'/nope.py' is not a file")
        assert "rootContents" in await client.ask("Connection", None, "Loaded")
    finally:
        await client.close()


async def test_a_terminal_runs_the_shell_in_the_workspace(runner: Runner) -> None:
    client = await RunnerClient.open(runner.ws_url())
    try:
        session = (await client.ask("requestTerminal", {}, "terminalConnected"))["sessionId"]
        await client.send("terminalResize", {"cols": 100, "rows": 30, "sessionId": session})
        await client.send("terminalInput", {"data": "python3 main.py; stty size\n",
                                            "sessionId": session})
        output = await client.terminal_output_until("30 100")
        assert "hello from main" in output
        assert await client.ask("closeTerminal", {"sessionId": session}, "terminalClosed") == {
            "sessionId": session}
        await client.send("terminalInput", {"data": "ls\n", "sessionId": session})
        assert "no terminal" in (await client.expect("terminalError"))["error"]
    finally:
        await client.close()


async def test_every_route_but_ping_needs_the_repls_credential(runner: Runner) -> None:
    class SignedYesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 24 * 3600

    class Yesterday(URLSafeTimedSerializer):
        default_signer = SignedYesterday

    expired = Yesterday(runner.secret, salt="devex-workspace-access").dumps(REPL_ID)
    other_repl = credentials.issue(runner.secret, "fedcba9876543210")
    other_secret = credentials.issue(secrets.token_hex(32), REPL_ID)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{runner.port}/ping")).status_code == 200
        for token in (None, "garbage", expired, other_repl, other_secret):
            suffix = "" if token is None else f"?token={token}"
            for path in ("/", "/ping", "/static/devex.css", "/api/v1/anything"):
                response = await http.get(runner.base + path + suffix)
                assert response.status_code == 401, (path, token)
            with pytest.raises(InvalidStatus):
                await RunnerClient.open(runner.ws_url(token or ""))

        good = credentials.issue(runner.secret, REPL_ID)
        page = await http.get(f"{runner.base}/?token={good}")
        assert page.status_code == 302 and page.headers["location"] == f"/{REPL_ID}/"
        assert "HttpOnly" in page.headers["set-cookie"]
        followed = await http.get(f"{runner.base}/")
        assert followed.status_code == 200 and REPL_ID in followed.text
        # Told no dashboard address, the page offers no link that would lead nowhere.
        assert '<span class="brand">Devex</span>' in followed.text


async def test_the_cookie_opens_the_websocket_only_from_the_workspaces_own_origin(
    runner: Runner,
) -> None:
    token = credentials.issue(runner.secret, REPL_ID)
    async with httpx.AsyncClient() as http:
        await http.get(f"{runner.base}/?token={token}")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    bare = runner.ws_url("").removesuffix("?token=")
    own = f"http://127.0.0.1:{runner.port}"

    same_site = await RunnerClient.open(bare, origin=own, additional_headers={"Cookie": cookie})
    assert "rootContents" in await same_site.ask("Connection", answer="Loaded")
    await same_site.close()

    # Another page of the same site gets the cookie attached by the browser, and is refused.
    with pytest.raises(InvalidStatus) as refused:
        await RunnerClient.open(bare, origin="http://other.example.test",
                                additional_headers={"Cookie": cookie})
    assert refused.value.response.status_code == 403

    # The IDE frontend on its own origin passes the credential in the address instead.
    frontend = await RunnerClient.open(runner.ws_url(token), origin="http://ide.example.test")
    assert "rootContents" in await frontend.ask("Connection", answer="Loaded")
    await frontend.close()
