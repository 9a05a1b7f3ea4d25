"""Kubernetes readiness: the delay from the simulated pod turning Ready to the "ready"
event on a watcher's WebSocket, through the portal's shared pod watch and Redis.
Everything (simulated API server, portal, watcher) runs on this machine over loopback;
Redis and moto's S3 run as their own processes.

Usage: python -m bench.kube_readiness [--starts 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx2 as httpx
from hypercorn.asyncio import serve
from websockets.asyncio.client import connect

from bench.common import percentile
from portal.settings import PROJECT_ROOT, load_settings
from portal.store.embedded import redis_server_binary
from portal.webserver import hypercorn_config
from tests.support.kube_sim import SimCluster, ingress_app, kubeconfig
from tests.support.live import live_portal
from tests.support.processes import ServerProcess, free_port

KEYS = {"S3_ACCESS_KEY": "bench", "S3_SECRET_KEY": "bench-secret"}


async def measure(work: Path, redis_port: int, moto_port: int, starts: int) -> list[float]:
    sim = SimCluster(work / "nodes")
    sim.add_secret("devex-storage", KEYS)
    api_port, ingress_port, port = free_port(), free_port(), free_port()
    stop = asyncio.Event()
    servers = [asyncio.create_task(serve(app, hypercorn_config("127.0.0.1", p,
                                                               websocket_compression=False),
                                         shutdown_trigger=stop.wait))
               for app, p in ((sim.app, api_port), (ingress_app(sim), ingress_port))]
    await asyncio.sleep(0.5)
    settings = load_settings({
        "PORT": str(port), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DEVEX_DATA_DIR": str(work / "data"), "DEVEX_LOG_LEVEL": "WARNING",
        "DEVEX_TEMPLATES_DIR": str(PROJECT_ROOT / "repl_templates"),
        "DEVEX_RUNTIME": "kubernetes", "KUBE_CONFIG_PATH": str(kubeconfig(
            work / "kubeconfig", api_port, sim.namespace)),
        "RUNNER_CLUSTER_IP": f"127.0.0.1:{ingress_port}", "DEVEX_RUNNER_SCHEME": "http",
        "DEVEX_PORTAL_INTERNAL_URL": f"http://127.0.0.1:{port}",
        "S3_BUCKET": "ready", "S3_ENDPOINT": f"http://127.0.0.1:{moto_port}", **KEYS,
    })
    delays = []
    try:
        async with live_portal(settings) as base, httpx.AsyncClient(base_url=base,
                                                                    timeout=60) as client:
            await client.post("/auth/dev/login", json={"login": "bench"})
            repl = (await client.post("/api/repl/new", json={"template": "python",
                                                             "replName": "ready"})).json()
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            url = base.replace("http", "ws") + f"/api/repl/{repl['id']}/events"
            for _ in range(starts):
                async with connect(url, additional_headers={"Cookie": cookie}) as events:
                    await events.recv()
                    await client.get(f"/api/repl/session/{repl['id']}?wait=false")
                    while not json.loads(await events.recv()).get("ready"):
                        pass
                    arrived = time.perf_counter()
                pod = next(n for n in sim.ready_at if n.startswith(f"repl-{repl['id']}-")
                           and n in sim.runs)
                delays.append(arrived - sim.ready_at[pod])
                (await client.delete(f"/api/repl/session/{repl['id']}")).raise_for_status()
    finally:
        await sim.close()
        stop.set()
        await asyncio.gather(*servers)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        redis_port, moto_port = free_port(), free_port()
        redis = ServerProcess([redis_server_binary(), "--port", str(redis_port), "--save", "",
                               "--appendonly", "no"], redis_port, work / "redis.log")
        moto = ServerProcess([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                              str(moto_port)], moto_port, work / "moto.log")
        try:
            boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}",
                         region_name="us-east-1", aws_access_key_id=KEYS["S3_ACCESS_KEY"],
                         aws_secret_access_key=KEYS["S3_SECRET_KEY"]).create_bucket(
                Bucket="ready")
            delays = asyncio.run(measure(work, redis_port, moto_port, args.starts))
        finally:
            moto.stop()
            redis.stop()
    print(f"pod Ready to the watcher's ready event, {args.starts} starts")
    print(f"median {statistics.median(delays) * 1000:.1f} ms   p95 "
          f"{percentile(delays, 0.95) * 1000:.1f} ms   max {max(delays) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
