"""Progress events through Redis: one pattern subscription per portal process, fanned out
to every local watcher, so a watcher here sees a start made by any other process and a
thousand watchers cost one Redis connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from portal.fanout import Fanout
from portal.store.redis_store import EVENTS_PATTERN

log = logging.getLogger(__name__)

_PREFIX = EVENTS_PATTERN.removesuffix("*")
# Handed to every listener after the subscription was lost and is back: pub/sub keeps
# nothing for absent subscribers, so whatever happened meanwhile must be read again.
RESYNC: dict[str, Any] = {"resync": True}


def progress_event(
    progress: int, message: str, state: str, *, ready: bool = False, failed: bool = False,
    url: str | None = None,
) -> dict[str, Any]:
    """An event shaped like JupyterHub's progress events."""
    event: dict[str, Any] = {"progress": progress, "message": message, "state": state}
    if ready:
        event["ready"] = True
    if failed:
        event["failed"] = True
    if url is not None:
        event["url"] = url
    return event


class EventHub:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._fanout = Fanout()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def watchers(self) -> int:
        return self._fanout.listeners

    async def _pump(self) -> None:
        delay = 0.1
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(EVENTS_PATTERN)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "pmessage":
                        self._deliver(message["channel"], message["data"])
                    elif kind == "psubscribe":
                        # redis-py resubscribes by itself after a lost connection, and
                        # its confirmation is the only sign of it.
                        if self._subscribed.is_set():
                            self._fanout.publish_all(RESYNC)
                        self._subscribed.set()
                        delay = 0.1
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("event subscription lost (%s); resubscribing", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _deliver(self, channel: str, data: str) -> None:
        repl_id = channel.removeprefix(_PREFIX)
        if self._fanout.wanted(repl_id):  # parse only what somebody here watches
            self._fanout.publish(repl_id, json.loads(data))

    @contextlib.asynccontextmanager
    async def listen(self, repl_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of the REPL's events, with RESYNC where some may have been missed."""
        with self._fanout.listen(repl_id) as queue:
            yield queue
