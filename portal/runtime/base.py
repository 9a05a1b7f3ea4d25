"""The runtime contract, modelled on JupyterHub's Spawner: start, stop, poll, and progress
reported as it happens. Two backends keep it: local processes and Kubernetes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from portal.models import Template

# progress 0-100 and a message a person can read
Report = Callable[[int, str], Awaitable[None]]


class StartFailed(Exception):
    """The workload could not come up; the message is the reason, for the owner."""


class WorkloadExists(StartFailed):
    """An earlier workload of the REPL is still there, perhaps with unsaved files: the
    start made nothing and must remove nothing; reconciliation saves and removes it."""

    def __init__(self) -> None:
        super().__init__("an earlier workspace of this REPL is still there; its files are "
                         "being saved first, so try again in a minute")


class StopFailed(Exception):
    """The files could not be saved; the workload was left running."""


class RuntimeUnavailable(Exception):
    """The runtime itself cannot be reached."""


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    repl_id: str
    owner_id: str
    owner_login: str
    template: Template
    storage_prefix: str
    runner_secret: str


class Runtime(Protocol):
    name: str

    async def start(self, spec: WorkloadSpec, report: Report) -> dict[str, Any]:
        """Bring the workload up and answer once it is ready, with what is needed to find
        it again after a portal restart. Raises StartFailed with the reason, and
        WorkloadExists, having touched nothing, when an earlier workload is in the way."""
        ...

    async def stop(self, repl_id: str, storage_prefix: str, report: Report) -> None:
        """Save the files, then remove the workload. Raises StopFailed, leaving the
        workload as it was, when the files could not be saved."""
        ...

    async def discard(self, repl_id: str) -> None:
        """Remove whatever exists of the workload without saving (a start that failed)."""
        ...

    async def is_running(self, repl_id: str, handle: dict[str, Any]) -> bool: ...

    async def list_workloads(self) -> set[str]:
        """The REPL ids of every workload this runtime manages."""
        ...

    async def check(self) -> None: ...

    async def close(self) -> None: ...
