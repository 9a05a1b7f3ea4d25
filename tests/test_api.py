"""The JSON API as the IDE frontend uses it: creating, listing and deleting REPLs, with
clear errors for bad input and nothing visible across users."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx2 as httpx
import pytest

from portal.settings import PROJECT_ROOT
from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal

FRONTEND = "http://ide.devex.test:3000"


async def test_the_frontend_walk_from_another_origin(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(FRONTEND_URL=FRONTEND)
    async with live_portal(settings) as base, client_for(
        base, headers={"Origin": FRONTEND}
    ) as ide:
        preflight = await ide.options(
            "/api/repl/new",
            headers={"Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == FRONTEND
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "POST" in preflight.headers["access-control-allow-methods"]

        assert (await ide.get("/auth/status")).json() == {"authenticated": False}
        await dev_sign_in(ide, "alice")
        status = (await ide.get("/auth/status")).json()
        assert status["authenticated"] is True
        assert status["user"]["login"] == "alice"
        assert re.match(r"\d{4}-\d\d-\d\dT", status["token_expires_at"])

        me = await ide.get("/auth/me")
        assert me.headers["access-control-allow-origin"] == FRONTEND
        assert set(me.json()) == {"id", "login", "name", "email", "avatar_url", "created_at"}
        assert (await ide.get("/api/repl")).json() == []

        created = await ide.post("/api/repl/new", json={"template": "python",
                                                        "replName": "hello"})
        assert created.status_code == 201
        repl = created.json()
        assert repl["name"] == "hello" and repl["template"] == "python"
        assert repl["user"] == "alice" and repl["isActive"] is False

        listed = (await ide.get("/api/repl")).json()
        assert [r["id"] for r in listed] == [repl["id"]]
        assert set(listed[0]) >= {"id", "name", "user", "template", "isActive", "createdAt"}
        stored = tmp_path / "data" / "files" / "alice" / repl["id"]
        assert (stored / "main.py").read_bytes() == (
            PROJECT_ROOT / "repl_templates/python/files/main.py"
        ).read_bytes()

        deleted = await ide.delete(f"/api/repl/{repl['id']}")
        assert deleted.status_code == 200
        assert (await ide.get("/api/repl")).json() == []
        assert not stored.exists()

        assert (await ide.post("/auth/logout")).status_code == 200
        assert (await ide.get("/auth/me")).status_code == 401
        assert (await ide.get("/api/repl")).json() == {"error": "sign in first"}


async def test_templates_are_listed_with_their_descriptions(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        templates = (await client.get("/api/templates")).json()
    keys = {t["key"]: t for t in templates}
    assert {"python", "node"} <= set(keys)
    assert keys["python"]["language"] == "python"
    assert keys["node"]["description"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"template": "python"}, "replName: required"),
        ({"replName": "x"}, "template: required"),
        ({"template": "python", "replName": 5}, "replName: Input should be a valid string"),
        ({"template": "cobol", "replName": "x"}, "template: unknown template 'cobol'"),
        ({"template": "python", "replName": ""}, "replName: must not be empty"),
        ({"template": "python", "replName": "a" * 51}, "replName: must be at most 50"),
        ({"template": "python", "replName": "has space"}, "replName: may contain only"),
        ({"template": "python", "replName": "-dash"}, "replName: must start with a letter"),
        ([1, 2], "request body must be a JSON object"),
    ],
)
async def test_bad_create_input_names_the_broken_rule(
    make_settings: MakeSettings, body: object, message: str
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        response = await client.post("/api/repl/new", json=body)
        assert response.status_code == 400
        assert response.json()["error"].startswith(message)
        assert (await client.get("/api/repl")).json() == []


async def test_malformed_json_and_unknown_routes_answer_json_errors(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        bad = await client.post("/api/repl/new", content=b"{not json",
                                headers={"Content-Type": "application/json"})
        assert (bad.status_code, bad.json()) == (
            400, {"error": "request body is not valid JSON"})
        unknown = await client.get("/api/nothing/here")
        assert unknown.status_code == 404
        assert "nothing/here" in unknown.json()["error"]
        huge = await client.post("/api/repl/new", content=b"x" * (2 << 20),
                                 headers={"Content-Type": "application/json"})
        assert huge.status_code == 413
        assert "larger than" in huge.json()["error"]


async def test_the_repl_limit_answers_403_with_the_limit(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings(DEVEX_MAX_REPLS_PER_USER=2)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        for name in ("one", "two"):
            assert (await client.post("/api/repl/new", json={"template": "node",
                                                              "replName": name})).status_code == 201
        third = await client.post("/api/repl/new", json={"template": "node", "replName": "three"})
        assert third.status_code == 403
        assert "at most 2 REPLs" in third.json()["error"]


async def test_concurrent_creates_never_pass_the_limit(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    async with live_portal(make_settings(DEVEX_MAX_REPLS_PER_USER=3)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        answers = await asyncio.gather(*(
            client.post("/api/repl/new", json={"template": "python", "replName": f"r{i}"})
            for i in range(8)
        ))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 3 + [403] * 5
        listed = (await client.get("/api/repl")).json()
    assert len(listed) == 3
    on_disk = {p.name for p in (tmp_path / "data" / "files" / "alice").iterdir()}
    assert on_disk == {r["id"] for r in listed}


async def test_another_users_repl_is_not_found_exactly_like_an_unknown_id(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as alice, client_for(
        base
    ) as mallory:
        await dev_sign_in(alice, "alice")
        await dev_sign_in(mallory, "mallory")
        repl = (await alice.post("/api/repl/new", json={"template": "python",
                                                        "replName": "mine"})).json()

        theirs = await mallory.delete(f"/api/repl/{repl['id']}")
        unknown = await mallory.delete("/api/repl/0123456789abcdef")
        assert (theirs.status_code, theirs.json()) == (unknown.status_code, unknown.json())
        assert theirs.status_code == 404
        assert (await mallory.get("/api/repl")).json() == []
        assert [r["id"] for r in (await alice.get("/api/repl")).json()] == [repl["id"]]


async def test_signed_out_callers_get_401_on_every_repl_route(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        for method, path in [("GET", "/api/repl"), ("POST", "/api/repl/new"),
                             ("DELETE", "/api/repl/0123456789abcdef"), ("GET", "/api/tokens"),
                             ("GET", "/auth/me")]:
            response = await client.request(method, path, json={})
            assert response.status_code == 401, (method, path)
            assert response.json() == {"error": "sign in first"}


async def test_a_forged_cross_site_post_is_refused(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings(FRONTEND_URL=FRONTEND)) as base, client_for(
        base
    ) as client:
        await dev_sign_in(client, "alice")
        forged = await client.post(
            "/api/repl/new", json={"template": "python", "replName": "evil"},
            headers={"Origin": "https://evil.example"},
        )
        assert (forged.status_code, forged.json()) == (403, {"error": "cross-site request refused"})
        assert (await client.get("/api/repl")).json() == []


async def test_sign_in_cookies_are_httponly_and_samesite(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        response = await client.post("/auth/dev/login", json={"login": "alice"})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_signing_out_revokes_the_cookie_even_if_replayed(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        await dev_sign_in(client, "alice")
        stolen = dict(client.cookies)
        await client.post("/auth/logout")
        async with client_for(base, cookies=stolen) as thief:
            assert (await thief.get("/auth/me")).status_code == 401


async def test_dev_login_refuses_a_bad_name(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        response = await client.post("/auth/dev/login", json={"login": "-bad-"})
        assert response.status_code == 400
        assert response.json()["error"].startswith("login:")


async def test_dev_login_from_the_sign_in_form_lands_on_the_dashboard(
    make_settings: MakeSettings,
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        page = await client.get("/login")
        assert 'name="login"' in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        forged = await client.post("/auth/dev/login", data={"login": "alice"})
        assert forged.status_code == 403
        response = await client.post("/auth/dev/login",
                                     data={"login": "alice", "csrf_token": token.group(1)})
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard"
        dashboard = await client.get("/dashboard")
        assert "alice" in dashboard.text


async def test_pages_answer_with_html_errors(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        response = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


async def test_unauthenticated_dashboard_redirects_to_sign_in(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        response = await client.get("/dashboard")
    assert (response.status_code, response.headers["location"]) == (302, "/login")


__all__ = ["httpx"]
