"""GitHub sign-in through the authlib client against a GitHub stand-in server over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx

from tests.conftest import GITHUB_CLIENT_ID, MakeSettings, github_env, signin_settings
from tests.support.clients import client_for
from tests.support.github_standin import user_id_for
from tests.support.live import live_portal
from tests.support.processes import ServerProcess, free_port


async def _start(client: httpx.AsyncClient) -> str:
    """Press "Sign in with GitHub"; answers the authorize URL the portal sent us to."""
    response = await client.get("/auth/github/login")
    assert response.status_code == 302
    return response.headers["location"]


async def test_signing_in_with_github_lands_on_the_dashboard(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/auth/github/callback"
    settings = make_settings(PORT=port, **github_env(github_standin, redirect))
    async with live_portal(settings) as base, client_for(base) as browser:
        authorize = await _start(browser)
        query = parse_qs(urlsplit(authorize).query)
        assert authorize.startswith(f"http://127.0.0.1:{github_standin.port}/login/oauth/")
        assert query["client_id"] == [GITHUB_CLIENT_ID]
        assert query["redirect_uri"] == [redirect]
        assert len(query["state"][0]) >= 32

        back = await browser.get(authorize + "&as=octo-cat", follow_redirects=True)
        assert back.url.path == "/dashboard"
        me = (await browser.get("/auth/me")).json()
        assert me == {
            "id": str(user_id_for("octo-cat")), "login": "octo-cat", "name": "Octo-cat Tester",
            "email": "octo-cat@example.test",
            "avatar_url": f"http://127.0.0.1:{github_standin.port}/avatars/octo-cat.png",
            "created_at": "2020-01-02T03:04:05Z",
        }


async def test_each_sign_in_gets_a_fresh_state(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = make_settings(**github_env(github_standin, "http://127.0.0.1:1/cb"))
    async with live_portal(settings) as base, client_for(base) as browser:
        first = parse_qs(urlsplit(await _start(browser)).query)["state"]
        post = await browser.post("/auth/github")
        assert post.status_code == 303
        second = parse_qs(urlsplit(post.headers["location"]).query)["state"]
    assert first != second


async def test_after_sign_in_the_ide_frontend_gets_the_person_back(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin, FRONTEND_URL="http://ide.devex.test")
    async with live_portal(settings) as base, client_for(base) as browser:
        authorize = await _start(browser)
        callback = (await browser.get(authorize)).headers["location"]
        landed = await browser.get(callback)
    assert landed.headers["location"] == "http://ide.devex.test/dashboard"


async def test_a_wrong_state_signs_nobody_in(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin)
    async with live_portal(settings) as base, client_for(base) as browser:
        authorize = await _start(browser)
        callback = (await browser.get(authorize)).headers["location"]
        forged = callback.replace("state=", "state=forged")
        page = await browser.get(forged)
        assert page.status_code == 400
        assert "expired or did not start here" in page.text
        assert (await browser.get("/auth/me")).status_code == 401
        # An attacker's callback without any sign-in started here fails the same way.
        async with client_for(base) as stranger:
            assert (await stranger.get(callback)).status_code == 400
            assert (await stranger.get("/auth/me")).status_code == 401


async def test_denied_consent_signs_nobody_in(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin)
    async with live_portal(settings) as base, client_for(base) as browser:
        page = await browser.get(await _start(browser) + "&deny=1", follow_redirects=True)
        assert page.status_code == 403
        assert "You declined access on GitHub" in page.text
        assert (await browser.get("/auth/me")).status_code == 401


async def test_a_failing_code_exchange_signs_nobody_in(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin)
    async with live_portal(settings) as base, client_for(base) as browser:
        rejected = await browser.get(await _start(browser) + "&exchange=bad",
                                     follow_redirects=True)
        assert rejected.status_code == 502
        assert "GitHub refused the sign-in code (bad_verification_code)" in rejected.text

        broken = await browser.get(await _start(browser) + "&exchange=500",
                                   follow_redirects=True)
        assert broken.status_code == 502
        assert "Could not reach GitHub" in broken.text
        assert (await browser.get("/auth/me")).status_code == 401


async def test_dev_login_is_gone_once_github_is_configured(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = make_settings(**github_env(github_standin, "http://127.0.0.1:1/cb"))
    async with live_portal(settings) as base, client_for(base) as client:
        response = await client.post("/auth/dev/login", json={"login": "alice"})
        assert response.status_code == 404
        page = (await client.get("/login")).text
        assert "Sign in with GitHub" in page and 'name="login"' not in page


async def test_github_routes_are_absent_without_a_github_app(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        assert (await client.get("/auth/github/login")).status_code == 404


async def test_sign_in_returns_only_to_our_own_pages_or_the_frontend(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin, FRONTEND_URL="https://ide.devex.test")
    cases = {
        "/dashboard?tab=repls": "/dashboard?tab=repls",
        "https://ide.devex.test/repl/1": "https://ide.devex.test/repl/1",
        "https://evil.example/phish": "https://ide.devex.test/dashboard",
        "//evil.example/phish": "https://ide.devex.test/dashboard",
        "https://ide.devex.test.evil.example/": "https://ide.devex.test/dashboard",
    }
    async with live_portal(settings) as base:
        for wanted, landing in cases.items():
            async with client_for(base) as browser:
                start = await browser.get("/auth/github/login", params={"next": wanted})
                callback = (await browser.get(start.headers["location"])).headers["location"]
                landed = await browser.get(callback)
                assert landed.headers["location"] == landing, wanted


async def test_dev_sign_in_returns_only_to_our_own_pages(make_settings: MakeSettings) -> None:
    import re

    async with live_portal(make_settings()) as base:
        for wanted, landing in {"/dashboard#x": "/dashboard#x",
                                "https://evil.example": "/dashboard"}.items():
            async with client_for(base) as browser:
                page = await browser.get("/login", params={"next": wanted})
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert token is not None
                signed_in = await browser.post("/auth/dev/login", data={
                    "login": "alice", "csrf_token": token.group(1), "next": wanted})
                assert signed_in.headers["location"] == landing


async def test_production_cookies_are_secure(
    make_settings: MakeSettings, github_standin: ServerProcess
) -> None:
    settings = signin_settings(make_settings, github_standin, ENVIRONMENT="production",
                               SESSION_SECRET="p" * 48)
    async with live_portal(settings) as base, client_for(base) as browser:
        start = await browser.get("/auth/github/login")
        state_cookie = start.headers["set-cookie"]
        assert all(flag in state_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax"))
        callback = (await browser.get(start.headers["location"])).headers["location"]
        # A client sends Secure cookies only over HTTPS; hand this one back as a browser
        # behind the TLS-terminating ingress would.
        session_cookie = state_cookie.split(";", 1)[0]
        landed = await browser.get(callback, headers={"Cookie": session_cookie})
        assert landed.status_code == 302
        auth_cookie = next(v for k, v in landed.headers.multi_items()
                           if k == "set-cookie" and v.startswith("devex_auth="))
        assert all(flag in auth_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax"))
        assert (await browser.get("/healthz")).headers["strict-transport-security"]
        assert (await browser.post("/auth/dev/login", json={"login": "x"})).status_code == 404
