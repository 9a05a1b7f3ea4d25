"""The portal declines WebSocket compression: its sockets carry small events, and the
zlib state per connection would cost more memory than it saves bandwidth."""

from __future__ import annotations

from websockets.asyncio.client import connect

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


async def test_permessage_deflate_is_declined_on_the_portal(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "z"})).json()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        url = base.replace("http", "ws") + f"/api/repl/{repl['id']}/events"
        async with connect(url, additional_headers={"Cookie": cookie}) as socket:
            assert socket.request is not None and socket.response is not None
            assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in socket.response.headers
            assert (await socket.recv())
