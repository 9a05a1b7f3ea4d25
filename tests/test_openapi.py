"""The JSON API is described by an OpenAPI document, and schemathesis, run against a live
portal with a signed-in token, finds no 500 answer and no response off its schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal

JSON_ROUTES = {
    ("get", "/api/repl"), ("post", "/api/repl/new"), ("post", "/api/repl/create"),
    ("get", "/api/repl/session/{repl_id}"), ("delete", "/api/repl/session/{repl_id}"),
    ("delete", "/api/repl/{repl_id}"), ("delete", "/api/runner/{repl_id}"),
    ("get", "/api/templates"), ("get", "/api/tokens"), ("post", "/api/tokens"),
    ("delete", "/api/tokens/{token_id}"), ("get", "/auth/me"), ("get", "/auth/status"),
    ("post", "/auth/logout"), ("post", "/auth/dev/login"), ("get", "/ping"),
    ("get", "/healthz"), ("get", "/readyz"),
}


async def test_every_json_route_has_request_and_response_schemas(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        document = (await client.get("/openapi.json")).json()
    found = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert found == JSON_ROUTES
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            answers = operation["responses"]
            assert any(code.startswith("2") for code in answers), (method, path)
            for code, answer in answers.items():
                assert "application/json" in answer["content"], (method, path, code)
            if method == "post" and path not in ("/auth/logout",):
                assert "requestBody" in operation, (method, path)


async def test_schemathesis_finds_no_server_error_and_no_off_schema_answer(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(DEVEX_RATE_CREATE=1000, DEVEX_RATE_START=1000,
                             DEVEX_RATE_SIGN_IN=1000)
    async with live_portal(settings) as base, client_for(base) as client:
        await dev_sign_in(client, "fuzzer")
        token = (await client.post("/api/tokens", json={"name": "schemathesis"})).json()["token"]
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
            "--checks", "not_a_server_error,response_schema_conformance,"
                        "status_code_conformance,content_type_conformance",
            "--header", f"Authorization: Bearer {token}",
            "--max-examples", "25", "--generation-deterministic",
            "--phases", "examples,coverage,fuzzing", "--request-timeout", "30",
            # Signing out, or revoking the token it signs in with (it reads the ids from
            # GET /api/tokens), would leave the fuzzer testing nothing but 401s.
            "--exclude-path", "/auth/logout", "--exclude-path", "/api/tokens/{token_id}",
        ]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
        result = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=900, env=env,
            cwd=tmp_path, check=False)
        print(result.stdout[-3000:])
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        # The fuzzing left the token working: nothing it sent broke authentication.
        answer = await client.get("/api/repl", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200

