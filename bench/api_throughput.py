"""Throughput of the JSON API on one hypercorn worker, measured with wrk on loopback.

Serves the portal on its embedded defaults (its own Redis, files in a temp directory),
signs in a user with 5 REPLs, then loads `GET /healthz`, `GET /auth/me` and `GET /api/repl`
in turn and prints requests per second, p50 and p99 latency, and each route's throughput
as a share of /healthz's. Run it with `make bench` (which installs wrk from Debian).

Usage: python -m bench.api_throughput [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.processes import free_port, wait_for_port

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise SystemExit(f"unreadable latency {text!r}")
    number, unit = found.groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, seconds: int, connections: int, cookie: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{url} answered errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench`, which installs it")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DEVEX_", "GITHUB_", "S3_", "REDIS_"))}
        env.update({"DEVEX_DATA_DIR": data, "PORT": str(port), "DEVEX_LOG_LEVEL": "WARNING"})
        portal = subprocess.Popen([sys.executable, "-m", "portal", "serve"], env=env)
        try:
            wait_for_port(port, portal)
            with httpx.Client(base_url=base) as client:
                client.post("/auth/dev/login", json={"login": "bench"}).raise_for_status()
                for number in range(5):
                    client.post("/api/repl/new", json={"template": "python",
                                                       "replName": f"r{number}"}
                                ).raise_for_status()
                assert len(client.get("/api/repl").json()) == 5
                cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            results = {path: run_wrk(base + path, args.seconds, args.connections, cookie)
                       for path in ("/healthz", "/auth/me", "/api/repl")}
        finally:
            portal.send_signal(signal.SIGTERM)
            portal.wait(30)

    healthz = results["/healthz"]["rps"]
    print(f"one hypercorn worker, wrk -t2 -c{args.connections} -d{args.seconds}s, loopback")
    print(f"{'route':<12}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'vs /healthz':>13}")
    for path, figures in results.items():
        print(f"{path:<12}{figures['rps']:>10.0f}{figures['p50']:>10.2f}{figures['p99']:>10.2f}"
              f"{figures['rps'] / healthz:>12.0%}")
    print(f"ratio GET /api/repl : GET /healthz = {results['/api/repl']['rps'] / healthz:.2f}")


if __name__ == "__main__":
    main()
