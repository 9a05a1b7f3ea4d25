"""Fan-out: 1,000 WebSocket watchers of one REPL's progress on one portal process. Prints
the portal's resident memory before and after they connect, and the delay from an event
being published to the last watcher receiving it.

Usage: python -m bench.fanout [--watchers 1000] [--events 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from bench.common import portal_process, raise_file_limit, rss_mb


async def run(base: str, pid: int, data: str, watchers: int, events: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await client.post("/auth/dev/login", json={"login": "fan"})
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "fan"})).json()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    before = rss_mb(pid)
    url = base.replace("http", "ws") + f"/api/repl/{repl['id']}/events"
    sockets: list[ClientConnection] = []
    for start in range(0, watchers, 100):
        batch = await asyncio.gather(*(connect(url, additional_headers={"Cookie": cookie})
                                       for _ in range(start, min(start + 100, watchers))))
        sockets += batch
    await asyncio.gather(*(socket.recv() for socket in sockets))  # the current state
    after = rss_mb(pid)

    redis = aioredis.Redis(unix_socket_path=str(Path(data) / "redis" / "redis.sock"))
    delays = []
    for number in range(events):
        async def arrival(socket: ClientConnection) -> float:
            json.loads(await socket.recv())
            return time.perf_counter()

        waiting = [asyncio.create_task(arrival(socket)) for socket in sockets]
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        await redis.publish(f"replEvents:{repl['id']}", json.dumps(
            {"progress": number, "message": "bench", "state": "starting"}))
        arrivals = await asyncio.gather(*waiting)
        delays.append(max(arrivals) - sent)
    await redis.aclose()
    for socket in sockets:
        await socket.close()
    print(f"{watchers} watchers of one REPL on one portal process")
    print(f"resident memory: {before:.0f} MB before, {after:.0f} MB with the watchers "
          f"({(after - before) * 1024 / watchers:.0f} KB each)")
    print(f"event to last watcher: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms over {events} events")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    raise_file_limit()
    with tempfile.TemporaryDirectory() as data, portal_process(data) as (base, pid):
        asyncio.run(run(base, pid, data, args.watchers, args.events))


if __name__ == "__main__":
    main()
