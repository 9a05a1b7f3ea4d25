"""`push` makes storage equal to a directory; `pull` brings storage into a directory.
Both run against every storage backend."""

from __future__ import annotations

import os
from pathlib import Path

from portal.storage import Storage
from portal.sync import pull, push, read_inside


async def test_push_makes_storage_equal_to_the_directory(storage: Storage, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "main.py").write_text("v1")
    (work / "src" / "gone.py").write_text("bye")
    first = await push(storage, work, "alice/r/")
    assert (first.written, first.deleted) == (2, 0)

    (work / "main.py").write_text("v2")
    (work / "src" / "gone.py").unlink()
    (work / "new.txt").write_text("hello")
    second = await push(storage, work, "alice/r/")

    assert (second.written, second.deleted) == (2, 1)
    assert set(await storage.list_files("alice/r/")) == {"main.py", "new.txt"}
    assert await storage.read("alice/r/main.py") == b"v2"


async def test_pushing_again_moves_nothing(storage: Storage, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("a")
    await push(storage, work, "p/r/")
    again = await push(storage, work, "p/r/")
    assert (again.written, again.deleted, again.bytes) == (0, 0, 0)


async def test_symlinks_are_never_followed_out_of_the_workspace(
    storage: Storage, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("do not upload")
    work = tmp_path / "work"
    work.mkdir()
    (work / "link.txt").symlink_to(secret)
    os.symlink(tmp_path, work / "linkdir")
    (work / "real.txt").write_text("ok")
    await push(storage, work, "s/r/")
    assert set(await storage.list_files("s/r/")) == {"real.txt"}


async def test_special_files_are_skipped_without_blocking_the_push(
    storage: Storage, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    os.mkfifo(work / "pipe")
    (work / "real.txt").write_text("ok")
    await push(storage, work, "f/r/")
    assert set(await storage.list_files("f/r/")) == {"real.txt"}


def test_a_read_never_follows_a_link_anywhere_in_the_path(tmp_path: Path) -> None:
    # A push reads each file again after scanning; by then the owner may have swapped a
    # file or a folder for a link, or a file for a FIFO.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("storage keys")
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "main.py").write_text("print(1)")
    assert read_inside(work, "src/main.py") == b"print(1)"

    (work / "src" / "main.py").unlink()
    (work / "src" / "main.py").symlink_to(outside / "secret.txt")
    assert read_inside(work, "src/main.py") is None

    (work / "src" / "main.py").unlink()
    (work / "src").rmdir()
    (work / "src").symlink_to(outside)
    assert read_inside(work, "src/secret.txt") is None

    os.mkfifo(work / "fifo")
    assert read_inside(work, "fifo") is None
    assert read_inside(work, "gone.txt") is None


async def test_pull_brings_every_file_and_can_run_again(storage: Storage, tmp_path: Path) -> None:
    await storage.write("b/r/main.py", b"code")
    await storage.write("b/r/deep/er/x.txt", b"x")
    target = tmp_path / "ws"
    first = await pull(storage, "b/r/", target)
    assert first.written == 2
    assert (target / "deep" / "er" / "x.txt").read_bytes() == b"x"
    again = await pull(storage, "b/r/", target)
    assert again.written == 0
