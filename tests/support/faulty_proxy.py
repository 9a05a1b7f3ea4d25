"""A TCP proxy that forwards to a real server until told to fail.

Faults are made on the wire, the way a flaky network or a dying service makes them,
so the code under test is exercised exactly as in production: `fail_after(n)` lets `n`
more HTTP requests through, then drops every connection and refuses new ones until
`heal()`. With `only=b"marker"` just the requests carrying that marker (say, the
`x-amz-copy-source` header of an S3 copy) are counted and dropped; the rest pass.
"""

from __future__ import annotations

import asyncio
import contextlib

_REQUEST_LINE_END = b" HTTP/1.1\r\n"


class FaultyProxy:
    def __init__(self, target_port: int, latency: float = 0.0) -> None:
        self.target_port = target_port
        self.latency = latency  # seconds added to every request, as a network would
        self.port = 0
        self.requests = 0
        self._allowance: int | None = None
        self._only: bytes | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def fail_after(self, requests: int, only: bytes | None = None) -> None:
        self._allowance = requests
        self._only = only.lower() if only is not None else None

    def fail_now(self) -> None:
        self._allowance = 0
        self._drop_all()

    def heal(self) -> None:
        self._allowance = None
        self._only = None

    @property
    def failing(self) -> bool:
        return self._only is None and self._allowance is not None and self._allowance <= 0

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.failing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, count=True),
                self._pump(up_reader, writer, count=False),
            )
        except asyncio.CancelledError:
            return  # the proxy is closing; this connection's task ends here

    def _should_drop(self, data: bytes) -> bool:
        seen = data.count(_REQUEST_LINE_END)
        self.requests += seen
        if not seen or self._allowance is None:
            return False
        if self._only is not None and self._only not in data.lower():
            return False
        if self._allowance < seen:
            self._allowance = 0
            return True
        self._allowance -= seen
        return False

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count and self._should_drop(data):
                    if self._only is None:
                        self._drop_all()
                    else:
                        writer.transport.abort()
                    return
                if count and self.latency and _REQUEST_LINE_END in data:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
