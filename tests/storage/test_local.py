"""What only the local-directory backend does: report the file system's failures (a full
disk, a permission, a file where a folder should be) as StorageError, like S3 reports
its own, so that a stop that cannot save says so instead of dying half-way."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.storage import StorageError
from portal.storage.local import LocalStorage


@pytest.fixture
def blocked(tmp_path: Path) -> LocalStorage:
    """Storage where the folder of `alice/r1/` is a regular file."""
    storage = LocalStorage(tmp_path / "files")
    (tmp_path / "files" / "alice").mkdir(parents=True)
    (tmp_path / "files" / "alice" / "r1").write_text("not a folder")
    return storage


async def test_a_write_that_the_file_system_refuses_is_a_storage_error(
    blocked: LocalStorage,
) -> None:
    with pytest.raises(StorageError, match=r"alice/r1/main\.py"):
        await blocked.write("alice/r1/main.py", b"print()\n")


async def test_reading_through_a_file_is_a_storage_error(blocked: LocalStorage) -> None:
    with pytest.raises(StorageError, match=r"alice/r1/main\.py"):
        await blocked.read("alice/r1/main.py")


async def test_copying_onto_a_file_is_a_storage_error(blocked: LocalStorage) -> None:
    await blocked.write("_templates/python/main.py", b"print()\n")
    with pytest.raises(StorageError):
        await blocked.copy_prefix("_templates/python/", "alice/r1/")
