"""Object storage for REPL files: one interface, an S3 backend and a local-directory one."""

from portal.storage.base import FileInfo, Storage, StorageError

__all__ = ["FileInfo", "Storage", "StorageError"]
