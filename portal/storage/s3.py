"""Storage in an S3-compatible bucket (AWS S3, R2, MinIO) through aioboto3.

Listing follows pagination; copies are server-side (`CopyObject`), so seeding a REPL from
a template never streams the bytes through the portal; every fan-out is bounded by one
semaphore; transient failures are retried by botocore's standard retry mode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.storage.base import FileInfo, StorageError, check_key, check_prefix, run_all

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_DELETE_BATCH = 1000  # the most keys one DeleteObjects call accepts


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


@contextlib.contextmanager
def _failures(action: str) -> Any:
    try:
        yield
    except (ClientError, BotoCoreError, OSError) as exc:
        raise StorageError(f"{action} failed ({_describe(exc)})") from exc


class S3Storage:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        concurrency: int = 16,
    ) -> None:
        self.bucket = bucket
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._endpoint = endpoint
        self._config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            max_pool_connections=max(concurrency, 10),
            connect_timeout=5,
            read_timeout=30,
            s3={"addressing_style": "path"},
        )
        self._limit = asyncio.Semaphore(concurrency)
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None

    async def _s3(self) -> S3Client:
        client = self._client
        if client is None:
            client = cast(
                "S3Client",
                await self._stack.enter_async_context(
                    self._session.client("s3", endpoint_url=self._endpoint, config=self._config)
                ),
            )
            self._client = client
        return client

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def list_files(self, prefix: str) -> dict[str, FileInfo]:
        check_prefix(prefix)
        s3 = await self._s3()
        found: dict[str, FileInfo] = {}
        with _failures(f"listing {prefix!r}"):
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(prefix):]
                    if rel:
                        found[rel] = FileInfo(size=item["Size"], md5=item["ETag"].strip('"'))
        return found

    async def read(self, key: str) -> bytes:
        s3 = await self._s3()
        async with self._limit:
            try:
                response = await s3.get_object(Bucket=self.bucket, Key=check_key(key))
                async with response["Body"] as body:
                    return await body.read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise StorageError(f"no file at {key!r}") from None
                raise StorageError(f"reading {key!r} failed ({_describe(exc)})") from exc
            except (BotoCoreError, OSError) as exc:
                raise StorageError(f"reading {key!r} failed ({_describe(exc)})") from exc

    async def write(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        async with self._limit:
            with _failures(f"writing {key!r}"):
                await s3.put_object(Bucket=self.bucket, Key=check_key(key), Body=data)

    async def delete(self, keys: Iterable[str]) -> None:
        batch = [check_key(key) for key in keys]
        await self._delete_keys(batch)

    async def _delete_keys(self, keys: list[str]) -> None:
        s3 = await self._s3()
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start:start + _DELETE_BATCH]
            with _failures(f"deleting {len(chunk)} files"):
                response = await s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
                )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageError(
                    f"deleting {first.get('Key')!r} failed ({first.get('Code')}: "
                    f"{first.get('Message')})"
                )

    async def delete_prefix(self, prefix: str) -> int:
        files = await self.list_files(prefix)
        await self._delete_keys([prefix + rel for rel in files])
        return len(files)

    async def copy_prefix(self, source: str, target: str) -> int:
        check_prefix(target)
        files = await self.list_files(source)
        s3 = await self._s3()

        async def copy_one(rel: str) -> None:
            async with self._limit:
                with _failures(f"copying {source + rel!r}"):
                    await s3.copy_object(
                        Bucket=self.bucket,
                        Key=target + rel,
                        CopySource={"Bucket": self.bucket, "Key": source + rel},
                    )

        await run_all(copy_one(rel) for rel in files)
        return len(files)

    async def check(self) -> None:
        s3 = await self._s3()
        with _failures(f"reaching bucket {self.bucket!r}"):
            await s3.head_bucket(Bucket=self.bucket)
