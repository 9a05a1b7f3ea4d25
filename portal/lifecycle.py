"""The one place for the rules of a REPL's life: names, quotas, ownership, and creating
and deleting a REPL so that a failure part-way leaves nothing half-made."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from pathlib import Path

from portal.accounts import now_iso
from portal.catalog import files_dir
from portal.errors import BadInput, Forbidden, NotFound, Unavailable
from portal.models import Repl, ReplView, Template, User
from portal.storage import Storage, StorageError
from portal.store.redis_store import RedisStore
from portal.sync import push

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 50
_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_REPL_ID = re.compile(r"^[a-f0-9]{16}$")
# GitHub logins cannot start with "_", so this prefix never meets a user's files.
TEMPLATES_PREFIX = "_templates/"


def check_repl_name(name: object) -> str:
    """The name, or BadInput saying which rule it broke."""
    if not isinstance(name, str):
        raise BadInput("replName: must be a string")
    if not name:
        raise BadInput("replName: must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise BadInput(f"replName: must be at most {MAX_NAME_LENGTH} characters")
    if not _NAME_CHARS.match(name):
        raise BadInput("replName: may contain only letters, digits, '.', '_' and '-'")
    if not name[0].isalnum():
        raise BadInput("replName: must start with a letter or a digit")
    return name


def template_prefix(key: str) -> str:
    return f"{TEMPLATES_PREFIX}{key}/"


class Lifecycle:
    def __init__(
        self,
        store: RedisStore,
        storage: Storage,
        catalog: dict[str, Template],
        templates_root: Path,
        max_repls_per_user: int,
    ) -> None:
        self.store = store
        self.storage = storage
        self.catalog = catalog
        self.templates_root = templates_root
        self.max_repls_per_user = max_repls_per_user

    async def publish_templates(self) -> None:
        """Mirror each template's starter files into storage, so that creating a REPL is a
        server-side copy. Only changed files move, so every start-up can do it. It runs
        in the background: storage that is down only delays it to the first create."""
        for key in self.catalog:
            try:
                await self._publish(key)
            except StorageError as exc:
                log.warning("could not publish template %s yet: %s", key, exc)

    async def _publish(self, key: str) -> None:
        result = await push(self.storage, files_dir(self.templates_root, key), template_prefix(key))
        if result.written or result.deleted:
            log.info("published template %s: %d written, %d deleted",
                     key, result.written, result.deleted)

    async def _seed(self, template_key: str, prefix: str) -> None:
        expected = self.catalog[template_key].file_count
        copied = await self.storage.copy_prefix(template_prefix(template_key), prefix)
        if copied != expected:
            # Not (fully) published yet: publish now, then copy again over what landed.
            await self._publish(template_key)
            copied = await self.storage.copy_prefix(template_prefix(template_key), prefix)
        if copied != expected:
            raise StorageError(
                f"template {template_key!r} has {copied} of {expected} files in storage"
            )

    def templates(self) -> list[Template]:
        return list(self.catalog.values())

    async def create_repl(self, user: User, template_key: object, name: object) -> ReplView:
        if not isinstance(template_key, str) or template_key not in self.catalog:
            known = ", ".join(sorted(self.catalog))
            raise BadInput(f"template: unknown template {template_key!r} (known: {known})")
        name = check_repl_name(name)
        limit = self.max_repls_per_user
        if await self.store.count_repls(user.id) >= limit:
            raise Forbidden(f"REPL limit reached: you can have at most {limit} REPLs")
        repl_id = secrets.token_hex(8)
        repl = Repl(
            id=repl_id,
            name=name,
            owner_id=user.id,
            owner_login=user.login,
            template=template_key,
            created_at=now_iso(),
            storage_prefix=f"{user.login}/{repl_id}/",
        )
        try:
            await self._seed(template_key, repl.storage_prefix)
            added = await self.store.add_repl(repl, limit)
        except BaseException as exc:
            await self._discard_files(repl)
            if isinstance(exc, StorageError):
                raise Unavailable(f"could not copy the template files: {exc}") from exc
            raise
        if not added:
            await self._discard_files(repl)
            raise Forbidden(f"REPL limit reached: you can have at most {limit} REPLs")
        return ReplView(repl=repl, state="stopped")

    async def _discard_files(self, repl: Repl) -> None:
        # Shielded: a client hanging up mid-create must not stop the clean-up.
        try:
            await asyncio.shield(self.storage.delete_prefix(repl.storage_prefix))
        except (StorageError, asyncio.CancelledError):
            log.warning("could not remove the files of abandoned REPL %s", repl.id)

    async def list_repls(self, user: User) -> list[ReplView]:
        listed = await self.store.list_repls(user.id)
        views = [ReplView(repl=repl, state=state or "stopped") for repl, state in listed]
        return sorted(views, key=lambda view: view.repl.created_at)

    async def owned_repl(self, user: User, repl_id: str) -> Repl:
        """The REPL if `user` owns it. Someone else's REPL is "not found", exactly like an
        unknown id, so ids cannot be probed."""
        repl = await self.store.get_repl(repl_id) if _REPL_ID.match(repl_id) else None
        if repl is None or repl.owner_id != user.id:
            raise NotFound("REPL not found")
        return repl

    async def delete_repl(self, user: User, repl_id: str) -> None:
        repl = await self.owned_repl(user, repl_id)
        # Files first: if that fails the REPL stays listed and the delete can be retried.
        try:
            await self.storage.delete_prefix(repl.storage_prefix)
        except StorageError as exc:
            raise Unavailable(f"could not delete the REPL's files: {exc}") from exc
        await self.store.remove_repl(repl)
