"""`make run`'s mode: nothing configured, the portal runs its own Redis and keeps files in
its data directory, and a restart keeps every REPL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx

from tests.support.processes import free_port, wait_for_port


def start_portal(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
    env.update({"DEVEX_DATA_DIR": str(data_dir), "PORT": str(port)})
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "portal", "serve"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def stop_portal(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_restart_keeps_every_repl_and_file(tmp_path: Path) -> None:
    data, log, port = tmp_path / "data", tmp_path / "portal.log", free_port()
    base = f"http://127.0.0.1:{port}"
    portal = start_portal(data, port, log)
    try:
        with httpx.Client(base_url=base) as client:
            client.post("/auth/dev/login", json={"login": "alice"}).raise_for_status()
            cookies = dict(client.cookies)
            made = [client.post("/api/repl/new", json={"template": t, "replName": t}).json()
                    for t in ("python", "node")]
            assert client.get("/ping").json()["redis"] == "ok"
    finally:
        stop_portal(portal)
    assert not (data / "redis" / "redis.sock").exists() or not _answers(data)

    portal = start_portal(data, port, log)
    try:
        with httpx.Client(base_url=base, cookies=cookies) as client:
            listed = client.get("/api/repl").json()
    finally:
        stop_portal(portal)
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in made)
    for repl in made:
        assert any((data / "files" / "alice" / repl["id"]).iterdir())


def _answers(data: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(data / "redis" / "redis.sock"))
        except OSError:
            return False
    return True
