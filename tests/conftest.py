"""Shared fixtures: real servers on loopback, started once per test session, and settings
that point the portal at them."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from portal.settings import PROJECT_ROOT, Settings, load_settings
from portal.storage.local import LocalStorage
from portal.storage.s3 import S3Storage
from portal.store.embedded import redis_server_binary
from tests.support.processes import ServerProcess, free_port

S3_KEYS = {"S3_ACCESS_KEY": "testing-access", "S3_SECRET_KEY": "testing-secret"}
GITHUB_CLIENT_ID = "Iv1.standin"
GITHUB_CLIENT_SECRET = "standin-client-secret-0123456789"


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def redis_server(server_logs: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        port, server_logs / "redis.log",
    )
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: ServerProcess) -> str:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()
    return url


@pytest.fixture(scope="session")
def moto_server(server_logs: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        port, server_logs / "moto.log",
    )
    yield server
    server.stop()


def s3_client(moto: ServerProcess) -> Any:
    """A plain boto3 client of moto's server, for tests to look at storage directly."""
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{moto.port}", region_name="us-east-1",
        aws_access_key_id=S3_KEYS["S3_ACCESS_KEY"],
        aws_secret_access_key=S3_KEYS["S3_SECRET_KEY"],
    )


@pytest.fixture
def s3_bucket(moto_server: ServerProcess) -> str:
    name = f"devex-{uuid.uuid4().hex[:12]}"
    s3_client(moto_server).create_bucket(Bucket=name)
    return name


def s3_env(bucket: str, endpoint: str) -> dict[str, str]:
    return {"S3_BUCKET": bucket, "S3_ENDPOINT": endpoint, **S3_KEYS}


@pytest.fixture(scope="session")
def github_standin(server_logs: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "tests.support.github_standin", str(port),
         GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET],
        port, server_logs / "github.log",
    )
    yield server
    server.stop()


def github_env(standin: ServerProcess, redirect_url: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{standin.port}"
    return {
        "GITHUB_CLIENT_ID": GITHUB_CLIENT_ID,
        "GITHUB_CLIENT_SECRET": GITHUB_CLIENT_SECRET,
        "GITHUB_REDIRECT_URL": redirect_url,
        "GITHUB_URL": base,
        "GITHUB_API_URL": base,
    }


MakeSettings = Callable[..., Settings]


def signin_settings(make: MakeSettings, standin: ServerProcess, **env: object) -> Settings:
    """A portal whose GitHub app is the stand-in, calling back to the portal's own port."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/auth/github/callback"
    return make(PORT=port, **github_env(standin, callback), **env)


@pytest.fixture(autouse=True)
def no_runner_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    """Workspaces deliberately outlive a portal (a restarted portal adopts them), so a test
    that ends with one running leaves its runner behind; end those here."""
    yield
    for record in tmp_path.glob("**/workspaces/*.json"):
        try:
            pid = json.loads(record.read_text())["pid"]
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            continue


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str) -> MakeSettings:
    """Settings for a portal on the test Redis with files in a temporary directory;
    keyword arguments are extra environment variables."""

    def make(**env: Any) -> Settings:
        base = {
            "ENVIRONMENT": "test",
            "PORT": str(free_port()),
            "REDIS_URL": redis_url,
            "DEVEX_DATA_DIR": str(tmp_path / "data"),
            "DEVEX_TEMPLATES_DIR": str(PROJECT_ROOT / "repl_templates"),
        }
        base.update({key: str(value) for key, value in env.items()})
        return load_settings({k: v for k, v in base.items() if v != "None"})

    return make


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[LocalStorage | S3Storage]:
    """Each storage backend in turn, for contract tests."""
    backend: LocalStorage | S3Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "files", concurrency=8)
    else:
        moto: ServerProcess = request.getfixturevalue("moto_server")
        backend = S3Storage(
            request.getfixturevalue("s3_bucket"),
            endpoint=f"http://127.0.0.1:{moto.port}", region="us-east-1",
            access_key=S3_KEYS["S3_ACCESS_KEY"], secret_key=S3_KEYS["S3_SECRET_KEY"],
            concurrency=8,
        )
    yield backend
    await backend.close()
