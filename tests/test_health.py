"""Health for operators: /healthz is liveness; /ping and /readyz check every dependency."""

from __future__ import annotations

from tests.conftest import MakeSettings, s3_env
from tests.support.clients import client_for
from tests.support.faulty_proxy import FaultyProxy
from tests.support.live import live_portal
from tests.support.processes import ServerProcess, free_port


async def test_ping_reports_each_dependency(make_settings: MakeSettings) -> None:
    async with live_portal(make_settings()) as base, client_for(base) as client:
        response = await client.get("/ping")
        assert response.status_code == 200
        assert response.json() == {"api": "ok", "redis": "ok", "storage": "ok",
                                   "runtime": "ok", "status": "ok"}
        assert (await client.get("/readyz")).status_code == 200


async def test_readyz_is_503_while_redis_is_down_and_healthz_stays_up(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    async with live_portal(settings) as base, client_for(base) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["redis"].startswith("error:")
        assert ready.json()["storage"] == "ok"
        ping = await client.get("/ping")
        assert (ping.status_code, ping.json()["status"]) == (503, "degraded")
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_follows_storage_going_down_and_coming_back(
    make_settings: MakeSettings, moto_server: ServerProcess, s3_bucket: str
) -> None:
    async with FaultyProxy(moto_server.port) as proxy:
        settings = make_settings(**s3_env(s3_bucket, proxy.url))
        async with live_portal(settings) as base, client_for(base) as client:
            assert (await client.get("/readyz")).status_code == 200
            proxy.fail_now()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["storage"].startswith("error:")
            proxy.heal()
            assert (await client.get("/readyz")).status_code == 200
