"""Copying between a storage prefix and a local directory.

`push` makes storage equal to the directory (changed files written, removed files
deleted), uploading before deleting so that a failure part-way never loses a file.
`pull` brings every stored file into the directory. Both only move what differs, so
running either again after a failure is safe and cheap.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from portal.metrics import SYNC_BYTES, SYNC_SECONDS
from portal.storage.base import FileInfo, Storage, StorageError, check_prefix, run_all
from portal.storage.local import write_atomically


@dataclass(frozen=True, slots=True)
class SyncResult:
    written: int
    deleted: int
    bytes: int


def scan_directory(root: Path) -> dict[str, FileInfo]:
    """Regular files under `root` by relative path. Symbolic links are skipped: following
    one could copy a file from outside the workspace into storage."""
    found: dict[str, FileInfo] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
        for name in filenames:
            path = base / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            rel = path.relative_to(root).as_posix()
            found[rel] = FileInfo(size=len(data), md5=hashlib.md5(data, usedforsecurity=False)
                                  .hexdigest())
    return found


async def push(storage: Storage, directory: Path, prefix: str) -> SyncResult:
    with SYNC_SECONDS.labels("push").time():
        result = await _push(storage, directory, prefix)
    SYNC_BYTES.labels("push").inc(result.bytes)
    return result


async def _push(storage: Storage, directory: Path, prefix: str) -> SyncResult:
    check_prefix(prefix)
    local, remote = await asyncio.gather(
        asyncio.to_thread(_scan_existing, directory), storage.list_files(prefix)
    )
    changed = [rel for rel, info in local.items() if remote.get(rel) != info]

    async def upload(rel: str) -> None:
        data = await asyncio.to_thread((directory / rel).read_bytes)
        await storage.write(prefix + rel, data)

    await run_all(upload(rel) for rel in changed)
    removed = [prefix + rel for rel in remote if rel not in local]
    await storage.delete(removed)
    return SyncResult(
        written=len(changed), deleted=len(removed), bytes=sum(local[r].size for r in changed)
    )


async def pull(storage: Storage, prefix: str, directory: Path) -> SyncResult:
    with SYNC_SECONDS.labels("pull").time():
        result = await _pull(storage, prefix, directory)
    SYNC_BYTES.labels("pull").inc(result.bytes)
    return result


async def _pull(storage: Storage, prefix: str, directory: Path) -> SyncResult:
    check_prefix(prefix)
    root = await asyncio.to_thread(directory.resolve)
    remote, local = await asyncio.gather(
        storage.list_files(prefix), asyncio.to_thread(_scan_or_empty, root)
    )
    wanted = [rel for rel, info in remote.items() if local.get(rel) != info]
    for rel in wanted:
        target = (root / rel).resolve()
        if root not in target.parents:
            raise StorageError(f"stored file {rel!r} would land outside {root}")

    async def download(rel: str) -> None:
        data = await storage.read(prefix + rel)
        await asyncio.to_thread(write_atomically, root / rel, data)

    await run_all(download(rel) for rel in wanted)
    return SyncResult(
        written=len(wanted), deleted=0, bytes=sum(remote[r].size for r in wanted)
    )


def _scan_existing(root: Path) -> dict[str, FileInfo]:
    if not root.is_dir():
        raise StorageError(f"{root} is not a directory")
    return scan_directory(root)


def _scan_or_empty(root: Path) -> dict[str, FileInfo]:
    root.mkdir(parents=True, exist_ok=True)
    return scan_directory(root)
