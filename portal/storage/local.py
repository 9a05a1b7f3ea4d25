"""Storage in a local directory: the embedded default. File work runs in threads so the
event loop never blocks on the disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from portal.storage.base import FileInfo, StorageError, check_key, check_prefix, run_all


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write a whole file or nothing: readers never see it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LocalStorage:
    def __init__(self, root: Path, concurrency: int = 16) -> None:
        self.root = root.resolve()
        self._limit = asyncio.Semaphore(concurrency)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _dir(self, prefix: str) -> Path:
        return self._path(check_prefix(prefix)[:-1])

    async def list_files(self, prefix: str) -> dict[str, FileInfo]:
        base = self._dir(prefix)

        def scan() -> dict[str, FileInfo]:
            found: dict[str, FileInfo] = {}
            if not base.is_dir():
                return found
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith(".tmp-"):
                    rel = path.relative_to(base).as_posix()
                    found[rel] = FileInfo(size=path.stat().st_size, md5=_md5(path))
            return found

        return await asyncio.to_thread(scan)

    async def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise StorageError(f"no file at {key!r}") from None

    async def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        async with self._limit:
            await asyncio.to_thread(write_atomically, path, data)

    async def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(key) for key in keys]

        def remove() -> None:
            for path in paths:
                path.unlink(missing_ok=True)
                _prune_empty_parents(path.parent, self.root)

        await asyncio.to_thread(remove)

    async def delete_prefix(self, prefix: str) -> int:
        base = self._dir(prefix)

        def remove() -> int:
            if not base.is_dir():
                return 0
            count = sum(1 for path in base.rglob("*") if path.is_file())
            shutil.rmtree(base)
            _prune_empty_parents(base.parent, self.root)
            return count

        return await asyncio.to_thread(remove)

    async def copy_prefix(self, source: str, target: str) -> int:
        files = await self.list_files(source)
        source_dir, target_dir = self._dir(source), self._dir(target)

        async def copy_one(rel: str) -> None:
            async with self._limit:
                data = await asyncio.to_thread((source_dir / rel).read_bytes)
                await asyncio.to_thread(write_atomically, target_dir / rel, data)

        await run_all(copy_one(rel) for rel in files)
        return len(files)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise StorageError(f"storage directory {self.root} is not writable")

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise StorageError(f"storage directory {self.root}: {exc.strerror}") from exc

    async def close(self) -> None:
        return None


def _prune_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
