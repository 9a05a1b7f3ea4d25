"""The Redis store against a real Redis server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Connection, ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from portal.models import Repl
from portal.store.redis_store import RedisStore, connect


def repl(number: int, owner: str = "42") -> Repl:
    return Repl(
        id=f"{number:016x}", name=f"r{number}", owner_id=owner, owner_login="alice",
        template="python", created_at=f"2026-01-01T00:00:{number:02}Z",
        storage_prefix=f"alice/{number:016x}/",
    )


class CountingConnection(Connection):
    """Counts what crosses the wire: one send is one round trip."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        await super().send_packed_command(command, check_health)


async def test_listing_takes_one_round_trip_however_many_repls(redis_url: str) -> None:
    writer = RedisStore(connect(redis_url, 4, 5.0))
    for number in range(40):
        assert await writer.add_repl(repl(number), limit=100)
    await writer.close()

    pool = ConnectionPool.from_url(redis_url, connection_class=CountingConnection,
                                   decode_responses=True)
    store = RedisStore(Redis(connection_pool=pool))
    await store.list_repls("nobody")  # loads the script once per process
    CountingConnection.sends = 0
    listed = await store.list_repls("42")
    assert CountingConnection.sends == 1
    assert [r.id for r, _, _ in listed] == [f"{n:016x}" for n in range(40)]
    await store.close()


async def test_the_limit_holds_under_concurrent_adds(redis_url: str) -> None:
    store = RedisStore(connect(redis_url, 16, 5.0))
    results = await asyncio.gather(*(store.add_repl(repl(n), limit=5) for n in range(20)))
    assert results.count(True) == 5
    assert await store.count_repls("42") == 5
    assert len(await store.list_repls("42")) == 5
    await store.close()


async def test_the_pool_waits_for_a_free_connection_instead_of_failing(redis_url: str) -> None:
    # Each BLPOP holds its connection for 50 ms; 30 of them share 2 connections.
    store = RedisStore(connect(redis_url, max_connections=2, pool_timeout=10.0))
    await asyncio.gather(*(store.redis.blpop([f"nothing:{i}"], timeout=0.05)
                           for i in range(30)))
    assert isinstance(store.redis.connection_pool, BlockingConnectionPool)
    await store.close()

    # redis-py's default pool raises at the same limit, which is why the store avoids it.
    plain = Redis(connection_pool=ConnectionPool.from_url(redis_url, max_connections=2))
    with pytest.raises(RedisConnectionError, match="Too many connections"):
        await asyncio.gather(*(plain.blpop([f"nothing:{i}"], timeout=0.05) for i in range(30)))
    await plain.aclose()


async def test_removing_a_repl_removes_its_metadata_and_listing(redis_url: str) -> None:
    store = RedisStore(connect(redis_url, 4, 5.0))
    await store.add_repl(repl(1), limit=5)
    await store.remove_repl(repl(1))
    assert await store.get_repl(repl(1).id) is None
    assert await store.list_repls("42") == []
    await store.close()


async def test_metadata_uses_the_seed_services_keys(redis_url: str) -> None:
    store = RedisStore(connect(redis_url, 4, 5.0))
    await store.add_repl(repl(7), limit=5)
    raw = store.redis
    assert await raw.smembers("userRepls:42") == {repl(7).id}
    meta = await raw.hgetall(f"replMeta:{repl(7).id}")
    assert meta["ownerLogin"] == "alice" and meta["storagePrefix"] == "alice/0000000000000007/"
    await store.close()


async def test_only_the_owning_operation_beats_or_publishes(redis_url: str) -> None:
    store = RedisStore(connect(redis_url, 4, 5.0))
    assert await store.claim_start("r1", "u", {"state": "starting", "op": "A", "beat": "1"}
                                   ) == "claimed"
    assert await store.claim_start("r1", "u", {"state": "starting", "op": "B"}) == "starting"
    assert await store.beat("r1", "A", 2.0)
    assert await store.claim_stop("r1", "S") == "starting"
    assert not await store.beat("r1", "A", 3.0)
    assert not await store.update_session("r1", "A", {}, {"state": "running"})
    session = await store.session("r1")
    assert (session["state"], session["op"], session["beat"]) == ("stopping", "S", "2.0")
    await store.close()


async def test_a_stop_claimed_only_from_failed_leaves_any_other_state_alone(
    redis_url: str,
) -> None:
    store = RedisStore(connect(redis_url, 4, 5.0))
    await store.claim_start("r2", "u", {"state": "starting", "op": "A"})
    assert await store.claim_stop("r2", "S", only_from="failed") == "starting"
    assert (await store.session("r2"))["op"] == "A"

    assert await store.update_session("r2", "A", {"state": "failed"}, {"state": "failed"})
    assert await store.claim_stop("r2", "S", only_from="failed") == "failed"
    session = await store.session("r2")
    assert (session["state"], session["op"]) == ("stopping", "S")
    await store.close()


async def test_an_orphan_is_claimed_only_while_it_has_no_session(redis_url: str) -> None:
    store = RedisStore(connect(redis_url, 4, 5.0))
    stopping = {"state": "stopping", "op": "R"}
    assert await store.claim_orphan("r3", stopping)
    assert await store.active_sessions() >= {"r3"}
    assert not await store.claim_orphan("r3", {"state": "stopping", "op": "R2"})
    assert (await store.session("r3"))["op"] == "R"

    await store.claim_start("r4", "u", {"state": "starting", "op": "A"})
    assert not await store.claim_orphan("r4", stopping)
    assert (await store.session("r4"))["state"] == "starting"
    await store.close()
