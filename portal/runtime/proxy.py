"""The portal's reverse proxy to local workspaces: `/<repl-id>/...` over HTTP and
WebSocket to the runner's loopback port, so local workspaces are reached exactly as
Kubernetes ones are behind their ingress. The runner checks the credential itself; the
proxy strips the portal's own cookies so a workspace never sees them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie

import httpx2 as httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

PORTAL_COOKIES = frozenset({"devex_auth", "devex_session"})
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})


class WorkspaceGone(Exception):
    """No runner answers for that REPL."""


def strip_portal_cookies(header: str | None) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    kept = [f"{name}={morsel.coded_value}" for name, morsel in jar.items()
            if name not in PORTAL_COOKIES]
    return "; ".join(kept) or None


def forward_headers(headers: dict[str, str]) -> dict[str, str]:
    forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
    forwarded.pop("cookie", None)
    forwarded.pop("Cookie", None)
    cookie = strip_portal_cookies(headers.get("cookie") or headers.get("Cookie"))
    if cookie:
        forwarded["cookie"] = cookie
    return forwarded


class WorkspaceProxy:
    def __init__(self) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))

    async def close(self) -> None:
        await self._http.aclose()

    async def http(
        self, address: tuple[str, int], method: str, path: str, query: bytes,
        headers: dict[str, str], body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        url = f"http://{address[0]}:{address[1]}{path}"
        if query:
            url += "?" + query.decode("latin-1")
        try:
            response = await self._http.request(
                method, url, headers=forward_headers(headers), content=body
            )
        except httpx.TransportError as exc:
            raise WorkspaceGone(str(exc)) from exc
        kept = [(k, v) for k, v in response.headers.multi_items()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"]
        return response.status_code, kept, response.content

    async def websocket(
        self, address: tuple[str, int], path: str, query: bytes, headers: dict[str, str],
        accept: Callable[[], Awaitable[None]],
        receive: Callable[[], Awaitable[str | bytes]],
        send: Callable[[str | bytes], Awaitable[None]],
    ) -> int | None:
        """Relay one WebSocket. Answers an HTTP status when the runner refused it."""
        url = f"ws://{address[0]}:{address[1]}{path}"
        if query:
            url += "?" + query.decode("latin-1")
        extra = {}
        cookie = strip_portal_cookies(headers.get("cookie") or headers.get("Cookie"))
        if cookie:
            extra["Cookie"] = cookie
        try:
            upstream = await connect(url, additional_headers=extra, max_size=16 << 20,
                                     open_timeout=10)
        except InvalidStatus as exc:
            return exc.response.status_code
        except OSError as exc:
            raise WorkspaceGone(str(exc)) from exc
        await accept()

        async def to_runner() -> None:
            while True:
                await upstream.send(await receive())

        async def to_client() -> None:
            async for message in upstream:
                await send(message)

        tasks = [asyncio.create_task(to_runner()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                    await task
            await upstream.close()
        return None
