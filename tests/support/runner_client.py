"""A client of the runner WebSocket protocol, as the IDE frontend speaks it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class RunnerClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RunnerClient:
        return cls(await connect(url, max_size=16 << 20, **kwargs))

    async def close(self) -> None:
        await self.connection.close()

    async def send(self, event: str, data: Any = None) -> None:
        await self.connection.send(json.dumps({"event": event, "data": data}))

    async def receive(self, timeout: float = 10) -> tuple[str, Any]:
        message = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        return message["event"], message["data"]

    async def expect(self, event: str, timeout: float = 10) -> Any:
        """The data of the next `event`, skipping terminal output that interleaves."""
        while True:
            name, data = await self.receive(timeout)
            if name == event:
                return data
            if name != "terminalResponse":
                raise AssertionError(f"expected {event}, got {name}: {data}")

    async def ask(self, event: str, data: Any = None, answer: str | None = None) -> Any:
        await self.send(event, data)
        return await self.expect(answer or f"{event}Response")

    async def terminal_output_until(self, text: str, timeout: float = 15) -> str:
        seen = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in seen:
            name, data = await self.receive(max(deadline - loop.time(), 0.01))
            if name == "terminalResponse":
                seen += data
        return seen


async def write_file(ws_url: str, path: str, content: str) -> None:
    """Write one file through the runner, as an owner saving in the editor does."""
    runner = await RunnerClient.open(ws_url)
    try:
        await runner.ask("updateContent", {"path": path, "content": content})
    finally:
        await runner.close()
