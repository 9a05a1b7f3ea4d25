"""The storage contract every backend keeps, tested identically against each.

Keys are `/`-separated relative paths such as `alice/3f9c.../main.py`. A prefix names a
folder and always ends with `/`. `FileInfo.md5` lets `sync push` skip unchanged files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class StorageError(Exception):
    """A storage operation failed; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    size: int
    md5: str


def check_key(key: str) -> str:
    """Refuse keys that could address something outside the store's namespace."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    if not prefix.endswith("/"):
        raise StorageError(f"storage prefix {prefix!r} must end with '/'")
    check_key(prefix[:-1])
    return prefix


class Storage(Protocol):
    async def list_files(self, prefix: str) -> dict[str, FileInfo]:
        """Every file under `prefix`, keyed by its path relative to the prefix."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def write(self, key: str, data: bytes) -> None: ...

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the keys; a key that is already gone is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete everything under `prefix`; answers how many files went."""
        ...

    async def copy_prefix(self, source: str, target: str) -> int:
        """Copy every file under `source` to the same relative path under `target`,
        without moving the bytes through the portal where the backend allows it."""
        ...

    async def check(self) -> None:
        """Raise StorageError unless the backend can be read and written."""
        ...

    async def close(self) -> None: ...


async def run_all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs together; on the first failure cancel the rest and raise it, so that
    clean-up never races a copy still in flight."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except ExceptionGroup as group_error:
        first = group_error.exceptions[0]
        raise first from None
