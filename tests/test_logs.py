"""Logs are JSON lines with a request id, and no secret ever reaches one: not the session
secret, the storage keys, OAuth codes or tokens, API tokens, or workspace credentials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx

from tests.conftest import GITHUB_CLIENT_SECRET, S3_KEYS, github_env, s3_env
from tests.support.processes import ServerProcess, free_port, wait_for_port

SESSION_SECRET = "log-test-session-secret-" + "x" * 24


def test_no_secret_reaches_a_log_line(
    tmp_path: Path, redis_url: str, moto_server: ServerProcess, s3_bucket: str,
    github_standin: ServerProcess,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
    env.update({
        "PORT": str(port), "DEVEX_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_url,
        "SESSION_SECRET": SESSION_SECRET, "DEVEX_LOG_LEVEL": "DEBUG",
        **s3_env(s3_bucket, f"http://127.0.0.1:{moto_server.port}"),
        **github_env(github_standin, f"{base}/auth/github/callback"),
    })
    log = tmp_path / "portal.log"
    with log.open("wb") as out:
        portal = subprocess.Popen([sys.executable, "-m", "portal", "serve"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    seen: list[str] = []
    try:
        wait_for_port(port, portal)
        with httpx.Client(base_url=base, timeout=60) as client:
            authorize = client.get("/auth/github/login").headers["location"]
            back = client.get(authorize + "&as=logger").headers["location"]
            seen += parse_qs(urlsplit(back).query)["code"]
            seen += parse_qs(urlsplit(back).query)["state"]
            assert client.get(back).status_code == 302
            token = client.post("/api/tokens", json={"name": "t"}).json()["token"]
            seen.append(token)
            api = {"Authorization": f"Bearer {token}"}
            repl = client.post("/api/repl/new", json={"template": "python",
                                                      "replName": "logged"}, headers=api).json()
            session = client.get(f"/api/repl/session/{repl['id']}", headers=api).json()
            credential = parse_qs(urlsplit(session["url"]).query)["token"][0]
            seen.append(credential)
            assert client.get(session["url"]).status_code == 302
            client.get("/api/repl", headers={"Authorization": "Bearer dvx_wrong-token-value"})
            client.delete(f"/api/repl/session/{repl['id']}", headers=api)
            assert client.get("/metrics").status_code == 200
    finally:
        portal.send_signal(signal.SIGTERM)
        portal.wait(30)

    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["logger"] == "devex.access"]
    assert len(access) >= 8
    assert all(e.get("request_id") for e in access)
    text = log.read_text()
    for secret in [SESSION_SECRET, GITHUB_CLIENT_SECRET, *S3_KEYS.values(), *seen,
                   "dvx_wrong-token-value"]:
        assert secret not in text, f"a secret reached the log: {secret[:6]}..."
    assert "gho_" not in text
    print(f"\nchecked {len(entries)} log lines for {len(seen) + 5} secrets")


async def test_the_request_id_is_echoed_and_metrics_are_served(make_settings: object) -> None:
    from tests.support.clients import client_for, dev_sign_in
    from tests.support.live import live_portal

    async with live_portal(make_settings()) as base, client_for(base) as client:  # type: ignore[operator]
        response = await client.get("/healthz", headers={"X-Request-ID": "trace-12345678"})
        assert response.headers["X-Request-ID"] == "trace-12345678"
        generated = await client.get("/healthz", headers={"X-Request-ID": "bad id!"})
        assert len(generated.headers["X-Request-ID"]) == 16
        await dev_sign_in(client, "alice")
        repl = (await client.post("/api/repl/new", json={"template": "python",
                                                         "replName": "m"})).json()
        await client.get(f"/api/repl/session/{repl['id']}")
        await client.delete(f"/api/repl/session/{repl['id']}")
        metrics = (await client.get("/metrics")).text
    assert 'devex_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}' \
        in metrics
    assert 'devex_starts_total{outcome="ready"}' in metrics
    assert 'devex_stops_total{outcome="saved"}' in metrics
    assert "devex_start_duration_seconds_bucket" in metrics
    assert "devex_active_sessions 0.0" in metrics
    assert 'devex_sync_bytes_total{direction="push"}' in metrics
