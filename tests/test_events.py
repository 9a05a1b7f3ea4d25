"""Progress events travel through Redis pub/sub, which delivers only to whoever is
subscribed at that moment: a watcher must not be left behind by an event published while
its process was resubscribing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from portal.events import EventHub, progress_event
from portal.lifecycle import Sessions
from portal.models import Repl
from portal.runtime.local import LocalRuntime
from portal.storage.local import LocalStorage
from portal.store.redis_store import RedisStore, connect

REPL = Repl(id="00000000000000e1", name="events", owner_id="42", owner_login="alice",
            template="python", created_at="2026-12-04T00:00:00Z",
            storage_prefix="alice/00000000000000e1/")


async def test_a_watcher_catches_up_on_what_it_missed_while_the_subscription_was_down(
    redis_url: str, tmp_path: Path
) -> None:
    store = RedisStore(connect(redis_url, 8, 5.0))
    hub = EventHub(store.redis)
    await hub.start()
    storage = LocalStorage(tmp_path / "files", concurrency=4)
    runtime = LocalRuntime(tmp_path / "workspaces", storage, portal_url="http://127.0.0.1:1",
                           dashboard_url="", start_timeout=5, idle_timeout=60)
    sessions = Sessions(store, runtime, hub, {}, start_timeout=5, runner_base=None)
    starting = progress_event(10, "Starting", "starting")
    await store.claim_start(REPL.id, REPL.owner_id, {"state": "starting", "op": "A",
                                                     "event": json.dumps(starting)})
    try:
        watcher = sessions.watch(REPL)
        assert (await anext(watcher))["state"] == "starting"

        # Cut the hub's subscription, and make the REPL ready before it is back.
        await store.redis.client_kill_filter(_type="pubsub")
        ready = progress_event(100, "Your REPL is ready", "running", ready=True)
        assert await store.update_session(REPL.id, "A", {"state": "running"}, ready)

        async with asyncio.timeout(5):
            assert await anext(watcher) == ready
        await watcher.aclose()
    finally:
        await hub.close()
        await runtime.close()
        await storage.close()
        await store.close()
