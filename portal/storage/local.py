"""Storage in a local directory: the embedded default. File work runs in threads so the
event loop never blocks on the disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from portal.storage.base import FileInfo, StorageError, check_key, check_prefix, run_all

T = TypeVar("T")


async def _on_disk(what: str, work: Callable[[], T]) -> T:
    """Run file system work in a thread. Its failures (a full disk, a permission, a file
    where a folder should be) are StorageError naming `what`, as the contract says, so
    that a stop that cannot save reports it like any other storage failure."""
    try:
        return await asyncio.to_thread(work)
    except FileNotFoundError:
        raise StorageError(f"no file at {what!r}") from None
    except OSError as exc:
        raise StorageError(f"{what}: {exc.strerror or exc}") from exc


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

        return await _on_disk(prefix, scan)

    async def read(self, key: str) -> bytes:
        return await _on_disk(key, self._path(key).read_bytes)

    async def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        async with self._limit:
            await _on_disk(key, lambda: write_atomically(path, data))

    async def delete(self, keys: Iterable[str]) -> None:
        paths = [self._path(key) for key in keys]

        def remove() -> None:
            for path in paths:
                path.unlink(missing_ok=True)
                _prune_empty_parents(path.parent, self.root)

        await _on_disk(f"deleting {len(paths)} files", remove)

    async def delete_prefix(self, prefix: str) -> int:
        base = self._dir(prefix)

        def remove() -> int:
            if not base.is_dir():
                return 0
            count = sum(1 for path in base.rglob("*") if path.is_file())
            shutil.rmtree(base)
            _prune_empty_parents(base.parent, self.root)
            return count

        return await _on_disk(prefix, remove)

    async def copy_prefix(self, source: str, target: str) -> int:
        files = await self.list_files(source)
        source_dir, target_dir = self._dir(source), self._dir(target)

        def copy(rel: str) -> None:
            write_atomically(target_dir / rel, (source_dir / rel).read_bytes())

        async def copy_one(rel: str) -> None:
            async with self._limit:
                await _on_disk(target + rel, lambda: copy(rel))

        await run_all(copy_one(rel) for rel in files)
        return len(files)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise StorageError(f"storage directory {self.root} is not writable")

        await _on_disk(f"storage directory {self.root}", probe)

    async def close(self) -> None:
        return None


def _prune_empty_parents(directory: Path, root: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
