"""How the portal and the runner are served with hypercorn."""

from __future__ import annotations

from typing import Any

from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from wsproto.extensions import PerMessageDeflate


class _DeclinedDeflate(PerMessageDeflate):
    """permessage-deflate, declined whenever a client offers it.

    Hypercorn accepts it on every WebSocket, and the zlib state it keeps costs about
    90 KB per connection; the portal's sockets carry small JSON progress events, where
    compression saves nothing worth that (1,000 watchers: 232 MB resident with it,
    142 MB without, measured by bench/fanout.py)."""

    def accept(self, offer: str) -> Any:
        return None


def hypercorn_config(host: str, port: int, *, websocket_compression: bool) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.graceful_timeout = 10
    if not websocket_compression:
        # Hypercorn has no setting for it; the class it instantiates per handshake is
        # the only place to say no.
        vars(ws_stream)["PerMessageDeflate"] = _DeclinedDeflate
    return config
