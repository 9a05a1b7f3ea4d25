"""Workspaces as local processes, the embedded default: each REPL's files are pulled into
a directory under the data directory and served by a runner child process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


class RuntimeError_(Exception):
    """The runtime cannot do what was asked; the message says why."""


class LocalRuntime:
    name = "local"

    def __init__(self, workspaces_dir: Path) -> None:
        self.workspaces_dir = workspaces_dir.resolve()

    async def check(self) -> None:
        def probe() -> None:
            self.workspaces_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(self.workspaces_dir, os.W_OK | os.X_OK):
                raise RuntimeError_(f"workspace directory {self.workspaces_dir} is not writable")

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise RuntimeError_(f"workspace directory {self.workspaces_dir}: {exc}") from exc

    async def close(self) -> None:
        return None
