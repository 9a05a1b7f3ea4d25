"""Shared pieces of the benchmarks: a portal served as its own process, signed in."""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.processes import free_port, wait_for_port


def raise_file_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextmanager
def portal_process(data_dir: str, **env: str) -> Iterator[tuple[str, int]]:
    """The portal on the embedded defaults (unless `env` says otherwise); answers its base
    URL and process id."""
    port = free_port()
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
    full.update({"DEVEX_DATA_DIR": data_dir, "PORT": str(port), "DEVEX_LOG_LEVEL": "WARNING",
                 **env})
    process = subprocess.Popen([sys.executable, "-m", "portal", "serve"], env=full,
                               preexec_fn=raise_file_limit)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")
