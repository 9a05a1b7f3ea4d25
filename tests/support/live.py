"""The portal served by hypercorn on a loopback port inside the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2 as httpx
from hypercorn.asyncio import serve

from portal.app import create_app
from portal.settings import Settings
from portal.webserver import hypercorn_config


@asynccontextmanager
async def live_portal(settings: Settings) -> AsyncIterator[str]:
    """Serve the portal on 127.0.0.1 at `settings.port`; answers its base URL."""
    port = settings.port
    config = hypercorn_config("127.0.0.1", port, websocket_compression=False)
    config.graceful_timeout = 2
    stop = asyncio.Event()
    app = create_app(settings)
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(400):
            if task.done():
                task.result()
                raise RuntimeError("the portal stopped during start-up")
            try:
                if (await probe.get(base + "/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.025)
        else:
            raise RuntimeError("the portal did not answer /healthz")
    try:
        yield base
    finally:
        stop.set()
        await task
