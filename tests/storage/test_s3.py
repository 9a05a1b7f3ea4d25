"""What only the S3 backend does: reach a bucket over HTTP and report its failures."""

from __future__ import annotations

import pytest

from portal.storage import StorageError
from portal.storage.s3 import S3Storage
from tests.conftest import S3_KEYS
from tests.support.processes import ServerProcess, free_port


def s3(bucket: str, endpoint: str) -> S3Storage:
    return S3Storage(
        bucket, endpoint=endpoint, region="us-east-1",
        access_key=S3_KEYS["S3_ACCESS_KEY"], secret_key=S3_KEYS["S3_SECRET_KEY"],
    )


async def test_check_names_a_missing_bucket(moto_server: ServerProcess) -> None:
    storage = s3("no-such-bucket", f"http://127.0.0.1:{moto_server.port}")
    try:
        with pytest.raises(StorageError, match="no-such-bucket"):
            await storage.check()
    finally:
        await storage.close()


async def test_an_unreachable_endpoint_is_a_storage_error() -> None:
    storage = s3("bucket", f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StorageError, match="writing 'a/b/c' failed"):
            await storage.write("a/b/c", b"x")
    finally:
        await storage.close()
