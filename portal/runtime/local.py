"""Workspaces as local processes, the embedded default.

Each REPL's files are pulled into `workspaces/<repl-id>/` under the data directory and
served by a `devex runner` child process on a free loopback port; the portal proxies
`/<repl-id>/...` to it. `workspaces/<repl-id>.json` records the process so that a
restarted portal can find it again, and a workspace folder with no live process is a
workload whose files still need saving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import httpx2 as httpx

from portal.runtime.base import Report, StartFailed, StopFailed, WorkloadExists, WorkloadSpec
from portal.storage import Storage, StorageError
from portal.sync import pull, push


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# What the runner and its terminals take from the portal's environment. A list of what
# to keep rather than of what to drop: the portal's settings hold secrets under many
# names (SESSION_SECRET, a password in REDIS_URL, storage and OAuth keys) and new ones
# must not leak by default.
_INHERITED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME",
                        "VIRTUAL_ENV", "PYTHONPATH"})


def _inherited_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith("LC_")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRuntime:
    name = "local"

    def __init__(
        self,
        workspaces_dir: Path,
        storage: Storage,
        *,
        portal_url: str,
        dashboard_url: str,
        start_timeout: float,
        idle_timeout: float,
    ) -> None:
        self.workspaces_dir = workspaces_dir.resolve()
        self.storage = storage
        self.portal_url = portal_url
        self.dashboard_url = dashboard_url
        self.start_timeout = start_timeout
        self.idle_timeout = idle_timeout
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._http = httpx.AsyncClient(timeout=2.0)

    def workspace(self, repl_id: str) -> Path:
        return self.workspaces_dir / repl_id

    def _record(self, repl_id: str) -> Path:
        return self.workspaces_dir / f"{repl_id}.json"

    async def start(self, spec: WorkloadSpec, report: Report) -> dict[str, Any]:
        workspace = self.workspace(spec.repl_id)
        if not await asyncio.to_thread(self._claim_dir, workspace):
            raise WorkloadExists
        await report(20, "Pulling your files")
        try:
            await pull(self.storage, spec.storage_prefix, workspace)
        except StorageError as exc:
            raise StartFailed(f"could not pull the files: {exc}") from exc
        await report(50, "Starting the runner")
        port = _free_port()
        env = {
            **_inherited_environment(),
            "DEVEX_REPL_ID": spec.repl_id,
            "DEVEX_RUNNER_SECRET": spec.runner_secret,
            "DEVEX_WORKSPACE_DIR": str(workspace),
            "DEVEX_RUNNER_HOST": "127.0.0.1",
            "DEVEX_RUNNER_PORT": str(port),
            "DEVEX_PORTAL_URL": self.portal_url,
            "DEVEX_IDLE_TIMEOUT": str(self.idle_timeout),
            "DEVEX_SHELL": spec.template.shell,
            "DEVEX_DASHBOARD_URL": self.dashboard_url,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "portal", "runner", env=env, cwd=workspace,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )
        self._processes[spec.repl_id] = process
        handle = {"pid": process.pid, "port": port}
        await asyncio.to_thread(self._record(spec.repl_id).write_text, json.dumps(handle))
        await report(70, "Waiting for the runner to answer")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while not await self._answers(port):
            if process.returncode is not None:
                raise StartFailed(f"the runner exited with code {process.returncode}")
            if loop.time() > deadline:
                raise StartFailed(f"the runner did not answer within {self.start_timeout:g} s")
            await asyncio.sleep(0.05)
        return handle

    @staticmethod
    def _claim_dir(workspace: Path) -> bool:
        """Make the workspace folder; False if one is there already: it belongs to an
        earlier workload whose files may not be saved yet."""
        workspace.parent.mkdir(parents=True, exist_ok=True)
        try:
            workspace.mkdir()
        except FileExistsError:
            return False
        return True

    async def _answers(self, port: int) -> bool:
        try:
            response = await self._http.get(f"http://127.0.0.1:{port}/ping")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _handle(self, repl_id: str) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads(self._record(repl_id).read_text())
        except (OSError, ValueError):
            return None
        return loaded

    def address(self, repl_id: str) -> tuple[str, int] | None:
        handle = self._handle(repl_id)
        return None if handle is None else ("127.0.0.1", int(handle["port"]))

    async def stop(self, repl_id: str, storage_prefix: str, report: Report) -> None:
        workspace = self.workspace(repl_id)
        if await asyncio.to_thread(workspace.is_dir):
            await report(30, "Saving files")
            try:
                await push(self.storage, workspace, storage_prefix)
            except StorageError as exc:
                raise StopFailed(f"could not save the files: {exc}") from exc
        await report(80, "Stopping the runner")
        await self.discard(repl_id)

    async def discard(self, repl_id: str) -> None:
        handle = await asyncio.to_thread(self._handle, repl_id)
        process = self._processes.pop(repl_id, None)
        pid = process.pid if process is not None else (handle or {}).get("pid")
        if pid is not None:
            await self._end(int(pid), process)
        await asyncio.to_thread(self._remove, repl_id)

    async def _end(self, pid: int, process: asyncio.subprocess.Process | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            if process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 0.1)
                if process.returncode is not None:
                    return
            elif not _alive(pid):
                return
            else:
                await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def _remove(self, repl_id: str) -> None:
        shutil.rmtree(self.workspace(repl_id), ignore_errors=True)
        self._record(repl_id).unlink(missing_ok=True)

    async def is_running(self, repl_id: str, handle: dict[str, Any]) -> bool:
        port = handle.get("port")
        return port is not None and await self._answers(int(port))

    async def list_workloads(self) -> set[str]:
        def scan() -> set[str]:
            if not self.workspaces_dir.is_dir():
                return set()
            return {path.name.removesuffix(".json") for path in self.workspaces_dir.iterdir()
                    if not path.name.startswith(".")}

        return await asyncio.to_thread(scan)

    async def check(self) -> None:
        def probe() -> None:
            self.workspaces_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(self.workspaces_dir, os.W_OK | os.X_OK):
                raise OSError(f"workspace directory {self.workspaces_dir} is not writable")

        await asyncio.to_thread(probe)

    async def close(self) -> None:
        await self._http.aclose()
