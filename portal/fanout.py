"""Handing items to everyone listening for a key, each listener with its own queue: used
for progress events (keyed by REPL) and for the Kubernetes watch (keyed by REPL too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any


class Fanout:
    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    @property
    def listeners(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    def wanted(self, key: str) -> bool:
        return key in self._listeners

    def publish(self, key: str, item: dict[str, Any]) -> None:
        for queue in self._listeners.get(key, ()):
            queue.put_nowait(item)

    def publish_all(self, item: dict[str, Any]) -> None:
        for key in self._listeners:
            self.publish(key, item)

    @contextlib.contextmanager
    def listen(self, key: str) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners[key].add(queue)
        try:
            yield queue
        finally:
            self._listeners[key].discard(queue)
            if not self._listeners[key]:
                del self._listeners[key]
