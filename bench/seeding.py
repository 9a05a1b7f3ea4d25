"""Seeding a new REPL from a 200-file template against moto's S3 server over HTTP:
the portal's concurrent server-side copy beside one copy at a time, first straight to
moto on this machine, then through a proxy adding the round trip of a nearby S3 region
(--latency, default 30 ms), which is what concurrency exists to hide.

Usage: python -m bench.seeding [--files 200] [--rounds 3] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

from portal.storage.s3 import S3Storage
from tests.support.faulty_proxy import FaultyProxy
from tests.support.processes import ServerProcess, free_port

KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret"}


async def through_latency(target_port: int, latency: float, bucket: str, files: int,
                          rounds: int) -> tuple[float, float]:
    async with FaultyProxy(target_port, latency=latency) as proxy:
        one = await seed(proxy.url, bucket, 1, files, rounds)
        many = await seed(proxy.url, bucket, 16, files, rounds)
    return one, many


async def seed(endpoint: str, bucket: str, concurrency: int, files: int, rounds: int) -> float:
    storage = S3Storage(bucket, endpoint=endpoint, region="us-east-1",
                        access_key=KEYS["aws_access_key_id"],
                        secret_key=KEYS["aws_secret_access_key"], concurrency=concurrency)
    timings = []
    try:
        for number in range(rounds):
            began = time.perf_counter()
            copied = await storage.copy_prefix("_templates/big/", f"bench/{concurrency}-{number}/")
            timings.append(time.perf_counter() - began)
            assert copied == files
    finally:
        await storage.close()
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.03)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        moto = ServerProcess([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                              str(port)], port, Path(logs) / "moto.log")
        try:
            endpoint = f"http://127.0.0.1:{port}"
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS)
            s3.create_bucket(Bucket="seed")
            for number in range(args.files):
                s3.put_object(Bucket="seed", Key=f"_templates/big/dir{number % 10}/f{number}.py",
                              Body=f"print({number})\n".encode() * 20)
            one = asyncio.run(seed(endpoint, "seed", 1, args.files, args.rounds))
            many = asyncio.run(seed(endpoint, "seed", 16, args.files, args.rounds))
            far_one, far_many = asyncio.run(
                through_latency(port, args.latency, "seed", args.files, args.rounds))
        finally:
            moto.stop()
    print(f"seeding {args.files} files by server-side copy, moto over HTTP, median of "
          f"{args.rounds}")
    print(f"moto on this machine:     one at a time {one * 1000:6.0f} ms   concurrent (16) "
          f"{many * 1000:6.0f} ms   speed-up {one / many:.1f}x")
    print(f"with {args.latency * 1000:.0f} ms round trip: one at a time {far_one * 1000:6.0f} ms   "
          f"concurrent (16) {far_many * 1000:6.0f} ms   speed-up {far_one / far_many:.1f}x")


if __name__ == "__main__":
    main()
