"""A simulated Kubernetes cluster over HTTP, with its runner host, for the Kubernetes
runtime's tests; the sync containers reach moto's S3 server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from portal.settings import Settings
from tests.conftest import S3_KEYS, MakeSettings, s3_env
from tests.support.kube_sim import SimCluster, ingress_app, kubeconfig
from tests.support.processes import ServerProcess, free_port


@dataclass
class Cluster:
    sim: SimCluster
    api_port: int
    ingress_port: int
    kubeconfig: Path


async def _serve(app: Quart, port: int, stop: asyncio.Event) -> asyncio.Task[None]:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 1
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return task
        except OSError:
            await asyncio.sleep(0.02)
    raise RuntimeError("simulated cluster did not listen")


@pytest.fixture(scope="session")
def kube_requests() -> set[tuple[str, str, str]]:
    """(verb, API group, resource) of every request any simulated cluster saw this run."""
    return set()


@pytest.fixture
async def cluster(
    tmp_path: Path, kube_requests: set[tuple[str, str, str]]
) -> AsyncIterator[Cluster]:
    sim = SimCluster(tmp_path / "nodes")
    sim.add_secret("devex-storage", S3_KEYS)
    api_port, ingress_port = free_port(), free_port()
    stop = asyncio.Event()
    tasks = [await _serve(sim.app, api_port, stop),
             await _serve(ingress_app(sim), ingress_port, stop)]
    try:
        yield Cluster(sim, api_port, ingress_port,
                      kubeconfig(tmp_path / "kubeconfig", api_port, sim.namespace))
    finally:
        kube_requests.update((verb, group, resource) for verb, group, resource, _ in sim.requests)
        await sim.close()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def kube_settings(
    make_settings: MakeSettings, cluster: Cluster, moto_server: ServerProcess, s3_bucket: str
) -> MakeSettings:
    def make(**env: object) -> Settings:
        port = env.pop("PORT", None) or free_port()
        return make_settings(
            PORT=port,
            DEVEX_RUNTIME="kubernetes",
            KUBE_CONFIG_PATH=str(cluster.kubeconfig),
            RUNNER_CLUSTER_IP=f"127.0.0.1:{cluster.ingress_port}",
            DEVEX_RUNNER_SCHEME="http",
            DEVEX_PORTAL_INTERNAL_URL=f"http://127.0.0.1:{port}",
            DEVEX_START_TIMEOUT=env.pop("DEVEX_START_TIMEOUT", 60),
            **s3_env(s3_bucket, f"http://127.0.0.1:{moto_server.port}"),
            **env,
        )

    return make
