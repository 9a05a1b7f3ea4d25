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
import stat
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
            rel = (base / name).relative_to(root).as_posix()
            data = read_inside(root, rel)
            if data is not None:
                found[rel] = FileInfo(size=len(data), md5=hashlib.md5(
                    data, usedforsecurity=False).hexdigest())
    return found


def read_inside(root: Path, rel: str) -> bytes | None:
    """The bytes of the regular file `rel` under `root`, or None when it is gone, is not a
    regular file, or any part of its path is a symbolic link.

    The workspace's owner can change it while a push reads it, and the push holds the
    storage keys: a file swapped for a link to `/proc/self/environ` between the scan and
    the read must not be followed. So the path is opened one component at a time with
    O_NOFOLLOW, and O_NONBLOCK keeps a FIFO swapped in from hanging the push."""
    parts = rel.split("/")
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        inner = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        os.close(fd)
        fd = inner
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb") as file:
            fd = -1
            return file.read()
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


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
        data = await asyncio.to_thread(read_inside, directory, rel)
        if data is not None:  # removed or replaced since the scan: the next push settles it
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
