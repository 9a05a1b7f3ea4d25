"""Creating a REPL is all or nothing: a failure while copying the template leaves no
metadata and no partial files."""

from __future__ import annotations

from tests.conftest import MakeSettings, s3_client, s3_env
from tests.support.clients import client_for, dev_sign_in
from tests.support.faulty_proxy import FaultyProxy
from tests.support.live import live_portal
from tests.support.processes import ServerProcess


def stored_keys(moto: ServerProcess, bucket: str, prefix: str) -> list[str]:
    s3 = s3_client(moto)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_a_copy_failing_part_way_leaves_nothing_behind(
    make_settings: MakeSettings, moto_server: ServerProcess, s3_bucket: str
) -> None:
    async with FaultyProxy(moto_server.port) as proxy:
        settings = make_settings(**s3_env(s3_bucket, proxy.url))
        async with live_portal(settings) as base, client_for(base) as client:
            await dev_sign_in(client, "alice")
            # The node template has three files: the first copy lands, the next ones die.
            proxy.fail_after(1, only=b"x-amz-copy-source")
            failed = await client.post("/api/repl/new", json={"template": "node",
                                                              "replName": "doomed"})
            assert failed.status_code == 503
            assert failed.json()["error"].startswith("could not copy the template files")
            assert (await client.get("/api/repl")).json() == []
            assert stored_keys(moto_server, s3_bucket, "alice/") == []

            proxy.heal()
            retried = await client.post("/api/repl/new", json={"template": "node",
                                                               "replName": "doomed"})
            assert retried.status_code == 201
            repl_id = retried.json()["id"]
            assert sorted(stored_keys(moto_server, s3_bucket, "alice/")) == [
                f"alice/{repl_id}/README.md", f"alice/{repl_id}/index.js",
                f"alice/{repl_id}/package.json",
            ]


async def test_templates_are_published_on_first_use_when_storage_was_down_at_start(
    make_settings: MakeSettings, moto_server: ServerProcess, s3_bucket: str
) -> None:
    async with FaultyProxy(moto_server.port) as proxy:
        proxy.fail_now()
        settings = make_settings(**s3_env(s3_bucket, proxy.url))
        async with live_portal(settings) as base, client_for(base) as client:
            assert stored_keys(moto_server, s3_bucket, "_templates/") == []
            proxy.heal()
            await dev_sign_in(client, "alice")
            created = await client.post("/api/repl/new", json={"template": "python",
                                                               "replName": "late"})
            assert created.status_code == 201
            assert len(stored_keys(moto_server, s3_bucket, "alice/")) == 2
