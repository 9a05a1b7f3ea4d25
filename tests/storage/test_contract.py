"""The storage contract, held by every backend: the same tests run against the local
directory and against S3 (moto's server over HTTP)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from portal.storage import FileInfo, Storage, StorageError


async def test_written_files_are_listed_read_back_and_hashed(storage: Storage) -> None:
    await storage.write("alice/r1/main.py", b"print('hi')\n")
    await storage.write("alice/r1/src/util.py", b"X = 1\n")
    await storage.write("alice/r10/other.py", b"not under r1/\n")

    files = await storage.list_files("alice/r1/")

    assert files == {
        "main.py": FileInfo(12, hashlib.md5(b"print('hi')\n", usedforsecurity=False).hexdigest()),
        "src/util.py": FileInfo(6, hashlib.md5(b"X = 1\n", usedforsecurity=False).hexdigest()),
    }
    assert await storage.read("alice/r1/src/util.py") == b"X = 1\n"


async def test_overwrite_replaces_the_content(storage: Storage) -> None:
    await storage.write("bob/r/a.txt", b"one")
    await storage.write("bob/r/a.txt", b"two")
    assert await storage.read("bob/r/a.txt") == b"two"


async def test_reading_a_missing_file_names_it(storage: Storage) -> None:
    with pytest.raises(StorageError, match=r"bob/r/none\.txt"):
        await storage.read("bob/r/none.txt")


async def test_delete_removes_only_the_given_keys_and_ignores_missing_ones(
    storage: Storage,
) -> None:
    await storage.write("c/r/a", b"a")
    await storage.write("c/r/b", b"b")
    await storage.delete(["c/r/a", "c/r/never-existed"])
    assert set(await storage.list_files("c/r/")) == {"b"}


async def test_delete_prefix_removes_the_folder_and_nothing_beside_it(storage: Storage) -> None:
    for name in ("x", "y/z", "y/w"):
        await storage.write(f"d/r1/{name}", b".")
    await storage.write("d/r2/keep", b".")

    assert await storage.delete_prefix("d/r1/") == 3

    assert await storage.list_files("d/r1/") == {}
    assert set(await storage.list_files("d/r2/")) == {"keep"}
    assert await storage.delete_prefix("d/r1/") == 0


async def test_copy_prefix_copies_every_file_to_the_same_relative_path(
    storage: Storage,
) -> None:
    await storage.write("_templates/py/main.py", b"main")
    await storage.write("_templates/py/pkg/mod.py", b"mod")

    assert await storage.copy_prefix("_templates/py/", "eve/r1/") == 2

    assert await storage.read("eve/r1/pkg/mod.py") == b"mod"
    assert await storage.list_files("eve/r1/") == await storage.list_files("_templates/py/")


async def test_listing_follows_pagination_past_one_thousand_files(storage: Storage) -> None:
    await asyncio.gather(*(storage.write(f"big/r/f{i:04}", b"") for i in range(1003)))
    files = await storage.list_files("big/r/")
    assert len(files) == 1003
    assert await storage.delete_prefix("big/r/") == 1003


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", "a/../b", ""])
async def test_keys_that_could_escape_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        await storage.write(key, b"x")


async def test_a_prefix_must_name_a_folder(storage: Storage) -> None:
    with pytest.raises(StorageError, match="must end with '/'"):
        await storage.list_files("alice/r1")


async def test_check_passes_on_a_working_backend(storage: Storage) -> None:
    await storage.check()
