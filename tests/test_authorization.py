"""The authorization matrix: a second person tries every route of the first person's
REPL, with their cookie, their API token and no credential at all, and with workspace
credentials that are missing, expired or their own, and is refused every time with
nothing changed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.asyncio as aioredis
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import MakeSettings
from tests.support.clients import client_for, dev_sign_in
from tests.support.live import live_portal


class _Yesterday(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 24 * 3600


async def _ws_refused(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers):
            pass
    return refused.value.response.status_code


async def test_a_second_person_is_refused_everywhere(
    make_settings: MakeSettings, tmp_path: Path, redis_url: str
) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as alice, client_for(
        base
    ) as mallory:
        await dev_sign_in(alice, "alice")
        await dev_sign_in(mallory, "mallory")
        repl = (await alice.post("/api/repl/new", json={"template": "python",
                                                        "replName": "mine"})).json()
        rid = repl["id"]
        session = (await alice.get(f"/api/repl/session/{rid}")).json()
        own = (await mallory.post("/api/repl/new", json={"template": "python",
                                                         "replName": "theirs"})).json()
        own_session = (await mallory.get(f"/api/repl/session/{own['id']}")).json()
        token = (await mallory.post("/api/tokens", json={"name": "t"})).json()["token"]
        files = tmp_path / "data" / "workspaces" / rid
        before = sorted(p.name for p in files.iterdir())

        page = await mallory.get("/dashboard")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        htmx = {"HX-Request": "true", "X-CSRF-Token": csrf.group(1)}
        bearer = {"Authorization": f"Bearer {token}"}
        api = [("GET", f"/api/repl/session/{rid}"), ("GET", f"/api/repl/session/{rid}?wait=false"),
               ("DELETE", f"/api/repl/session/{rid}"), ("DELETE", f"/api/repl/{rid}")]
        pages = [("GET", f"/dashboard/repls/{rid}/row"), ("GET", f"/dashboard/repls/{rid}/open"),
                 ("POST", f"/dashboard/repls/{rid}/start"),
                 ("POST", f"/dashboard/repls/{rid}/stop"),
                 ("POST", f"/dashboard/repls/{rid}/delete")]
        checks = 0
        for method, path in api:
            for headers in ({}, bearer):
                answer = await mallory.request(method, path, headers=headers)
                assert answer.status_code == 404, (method, path, headers)
                assert answer.json() == {"error": "REPL not found"}
                checks += 1
            async with client_for(base) as nobody:
                assert (await nobody.request(method, path)).status_code == 401
                checks += 1
        for method, path in pages:
            answer = await mallory.request(method, path, headers=htmx)
            assert answer.status_code == 404, (method, path)
            checks += 1
        runner_stop = await mallory.delete(f"/api/runner/{rid}")
        assert runner_stop.status_code == 404
        checks += 1

        ws_base = base.replace("http", "ws")
        cookie = "; ".join(f"{k}={v}" for k, v in mallory.cookies.items())
        assert await _ws_refused(f"{ws_base}/api/repl/{rid}/events", {"Cookie": cookie}) == 404
        assert await _ws_refused(f"{ws_base}/api/repl/{rid}/events", bearer) == 404
        assert await _ws_refused(f"{ws_base}/api/repl/{rid}/events", {}) == 401
        checks += 3

        redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        secret = str(await redis.hget(f"activeSession:{rid}", "secret"))
        await redis.aclose()
        expired = URLSafeTimedSerializer(secret, salt="devex-workspace-access",
                                         signer=_Yesterday).dumps(rid)
        theirs = parse_qs(urlsplit(own_session["url"]).query)["token"][0]
        for credential in ("", "garbage", expired, theirs):
            query = f"?token={credential}" if credential else ""
            for path in ("/", "/ping", "/static/workspace.js"):
                answer = await mallory.get(f"/{rid}{path}{query}")
                assert answer.status_code == 401, (path, credential[:8])
                checks += 1
            status = await _ws_refused(f"{ws_base}/{rid}/api/v1/repl/ws{query}",
                                       {"Cookie": cookie})
            assert status == 401
            checks += 1

        # Nothing changed: the REPL still runs, its files are as they were.
        assert (await alice.get("/api/repl")).json()[0]["state"] == "running"
        assert sorted(p.name for p in files.iterdir()) == before
        assert (await alice.get(session["url"], follow_redirects=True)).status_code == 200
        print(f"\nauthorization matrix: {checks} refusals checked")
        await alice.delete(f"/api/repl/session/{rid}")
        await mallory.delete(f"/api/repl/session/{own['id']}")

