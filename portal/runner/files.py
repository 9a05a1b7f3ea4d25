"""File operations inside a workspace, each confined to the workspace root.

Paths arrive as the original frontend sends them: relative to the root, where a leading
`/` means the root. A path that resolves outside the root, through `..` or a symbolic
link pointing out, is refused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 5 << 20


class PathError(Exception):
    """A path is outside the workspace, missing, or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Workspace:
    root: Path

    def resolve(self, path: object, *, allow_root: bool = False) -> Path:
        if not isinstance(path, str):
            raise PathError("path must be a string")
        relative = path.lstrip("/")
        real_root = os.path.realpath(self.root)
        target = os.path.realpath(os.path.join(real_root, relative))
        if target == real_root:
            if allow_root:
                return Path(target)
            raise PathError("the workspace root cannot be changed")
        if os.path.commonpath([real_root, target]) != real_root:
            raise PathError(f"{path!r} is outside the workspace")
        return Path(target)

    def relative(self, path: Path) -> str:
        return path.relative_to(os.path.realpath(self.root)).as_posix()

    def listing(self, path: object) -> list[dict[str, Any]]:
        directory = self.resolve(path, allow_root=True)
        if not directory.is_dir():
            raise PathError(f"{path!r} is not a folder")
        entries = sorted(directory.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        return [{"name": entry.name, "isDir": entry.is_dir()} for entry in entries]

    def read(self, path: object) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise PathError(f"{path!r} is not a file")
        if target.stat().st_size > MAX_FILE_BYTES:
            raise PathError(f"{path!r} is larger than {MAX_FILE_BYTES} bytes")
        return target.read_text(encoding="utf-8", errors="replace")

    def write(self, path: object, content: str) -> None:
        if len(content.encode()) > MAX_FILE_BYTES:
            raise PathError(f"content is larger than {MAX_FILE_BYTES} bytes")
        target = self.resolve(path)
        if target.is_dir():
            raise PathError(f"{path!r} is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.devex-tmp")
        temporary.write_text(content, encoding="utf-8")
        os.replace(temporary, target)

    def create_file(self, path: object) -> None:
        target = self.resolve(path)
        if target.exists():
            raise PathError(f"{path!r} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()

    def create_folder(self, path: object) -> None:
        target = self.resolve(path)
        if target.exists():
            raise PathError(f"{path!r} already exists")
        target.mkdir(parents=True)

    def delete(self, path: object) -> None:
        target = self.resolve(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            raise PathError(f"{path!r} does not exist")

    def _pair(self, source: object, target: object, verb: str) -> tuple[Path, Path]:
        """Both ends of a move or copy, checked: the source exists, the target does not,
        and a folder is not put inside itself."""
        src, dst = self.resolve(source), self.resolve(target)
        if not src.exists():
            raise PathError(f"{source!r} does not exist")
        if dst.exists():
            raise PathError(f"{target!r} already exists")
        if src.is_dir() and (dst == src or src in dst.parents):
            raise PathError(f"a folder cannot be {verb} into itself")
        dst.parent.mkdir(parents=True, exist_ok=True)
        return src, dst

    def move(self, source: object, target: object) -> None:
        src, dst = self._pair(source, target, "moved")
        os.replace(src, dst)

    def copy(self, source: object, target: object) -> None:
        src, dst = self._pair(source, target, "copied")
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
