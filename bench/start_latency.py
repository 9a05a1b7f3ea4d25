"""Start latency on the embedded default: from the start request to ready, python
template, over 20 starts (each followed by a stop). Prints p50 and p95.

Usage: python -m bench.start_latency [--starts 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import httpx2 as httpx

from bench.common import percentile, portal_process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data, portal_process(data) as (base, _), \
            httpx.Client(base_url=base, timeout=60) as client:
            client.post("/auth/dev/login", json={"login": "bench"}).raise_for_status()
            repl = client.post("/api/repl/new", json={"template": "python",
                                                      "replName": "latency"}).json()
            seconds = []
            for _ in range(args.starts):
                began = time.perf_counter()
                started = client.get(f"/api/repl/session/{repl['id']}")
                seconds.append(time.perf_counter() - began)
                assert started.status_code == 200, started.text
                client.delete(f"/api/repl/session/{repl['id']}").raise_for_status()
    print(f"start to ready, python template, embedded defaults, {args.starts} starts")
    print(f"p50 {percentile(seconds, 0.5) * 1000:.0f} ms   p95 "
          f"{percentile(seconds, 0.95) * 1000:.0f} ms   min {min(seconds) * 1000:.0f} ms   "
          f"max {max(seconds) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
