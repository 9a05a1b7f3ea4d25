"""The one place for the rules of a REPL's life: names, quotas, ownership, and creating
and deleting a REPL so that a failure part-way leaves nothing half-made."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal import credentials
from portal.accounts import now_iso
from portal.catalog import files_dir
from portal.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    PortalError,
    TooMany,
    Unavailable,
)
from portal.events import RESYNC, EventHub, progress_event
from portal.metrics import IDLE_STOPS, START_SECONDS, STARTS, STOPS
from portal.models import Repl, ReplView, Template, User
from portal.runtime.base import (
    Report,
    Runtime,
    RuntimeUnavailable,
    StartFailed,
    StopFailed,
    WorkloadExists,
    WorkloadSpec,
)
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
        sessions: Sessions,
    ) -> None:
        self.store = store
        self.storage = storage
        self.catalog = catalog
        self.templates_root = templates_root
        self.max_repls_per_user = max_repls_per_user
        self.sessions = sessions

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
        views = [ReplView(repl=repl, state=state or "stopped", event=event)
                 for repl, state, event in listed]
        return sorted(views, key=lambda view: view.repl.created_at)

    async def owned_repl(self, user: User, repl_id: str) -> Repl:
        """The REPL if `user` owns it. Someone else's REPL is "not found", exactly like an
        unknown id, so ids cannot be probed."""
        repl = await self.store.get_repl(repl_id) if _REPL_ID.match(repl_id) else None
        if repl is None or repl.owner_id != user.id:
            raise NotFound("REPL not found")
        return repl

    async def start_session(
        self, user: User, repl_id: str, *, wait: bool, portal_base: str
    ) -> dict[str, Any]:
        """Start the REPL (or join the start under way); with `wait`, answer once it is
        ready, with the URLs that open it."""
        repl = await self.owned_repl(user, repl_id)
        state = await self.sessions.start(repl)
        answer: dict[str, Any] = {"replId": repl.id, "replName": repl.name, "state": state}
        if not wait and state != "running":
            return answer
        session = await self.sessions.wait_ready(repl)
        access = self.sessions.access(repl, session["secret"], portal_base)
        return {**answer, "state": "running", "url": access.url, "wsUrl": access.ws_url}

    async def stop_session(self, user: User, repl_id: str) -> None:
        await self.sessions.stop(await self.owned_repl(user, repl_id))

    async def request_stop(self, user: User, repl_id: str) -> None:
        """Begin a stop and answer at once; progress follows on the events channel."""
        repl = await self.owned_repl(user, repl_id)
        self.sessions.stop_in_background(repl)

    async def status(self, user: User, repl_id: str) -> ReplView:
        """The REPL as its owner sees it now, with its latest progress event."""
        repl = await self.owned_repl(user, repl_id)
        event = await self.sessions.current_event(repl.id)
        return ReplView(repl=repl, state=str(event["state"]), event=event)

    async def open_url(self, user: User, repl_id: str, portal_base: str) -> str:
        """The workspace page's address with a fresh credential, for a running REPL."""
        repl = await self.owned_repl(user, repl_id)
        session = await self.store.session(repl.id)
        if session.get("state") != "running":
            raise Conflict("the REPL is not running; start it first")
        return self.sessions.access(repl, session["secret"], portal_base).url

    async def watch(self, user: User, repl_id: str) -> AsyncIterator[dict[str, Any]]:
        repl = await self.owned_repl(user, repl_id)
        async for event in self.sessions.watch(repl):
            yield event

    async def delete_repl(self, user: User, repl_id: str) -> None:
        repl = await self.owned_repl(user, repl_id)
        # Its files are about to go, so the workload is removed without saving them.
        await self.sessions.discard(repl)
        # Files first: if that fails the REPL stays listed and the delete can be retried.
        try:
            await self.storage.delete_prefix(repl.storage_prefix)
        except StorageError as exc:
            raise Unavailable(f"could not delete the REPL's files: {exc}") from exc
        await self.store.remove_repl(repl)


# Sessions: starting and stopping workloads.

@dataclass(frozen=True, slots=True)
class Access:
    """Where the owner reaches a running REPL; both carry the credential."""

    url: str
    ws_url: str


class _Superseded(Exception):
    """A stop took the session over while a start was still under way."""


class Sessions:
    """The rules for a REPL's session: stopped → starting → running → stopping → stopped,
    plus failed. Every operation runs as a task of its own, so a client hanging up never
    leaves a half-done start or stop, and progress goes out through Redis."""

    def __init__(
        self,
        store: RedisStore,
        runtime: Runtime,
        hub: EventHub,
        catalog: dict[str, Template],
        *,
        start_timeout: float,
        runner_base: str | None,
        max_active_per_user: int = 2,
        max_concurrent_starts: int = 20,
        operation_lease: float = 60.0,
    ) -> None:
        self.operation_lease = operation_lease
        self.max_active_per_user = max_active_per_user
        self.max_concurrent_starts = max_concurrent_starts
        self.store = store
        self.runtime = runtime
        self.hub = hub
        self.catalog = catalog
        self.start_timeout = start_timeout
        self.runner_base = runner_base
        self._operations: dict[str, asyncio.Task[None]] = {}

    # What the owner sees

    def access(self, repl: Repl, secret: str, portal_base: str) -> Access:
        base = (self.runner_base or portal_base).rstrip("/")
        token = credentials.issue(secret, repl.id)
        ws_base = "wss://" + base[8:] if base.startswith("https://") else (
            "ws://" + base.removeprefix("http://"))
        return Access(url=f"{base}/{repl.id}/?token={token}",
                      ws_url=f"{ws_base}/{repl.id}/api/v1/repl/ws?token={token}")

    async def current_event(self, repl_id: str) -> dict[str, Any]:
        session = await self.store.session(repl_id)
        if "event" in session:
            event: dict[str, Any] = json.loads(session["event"])
            return event
        return progress_event(100, "Stopped", "stopped")

    async def watch(self, repl: Repl) -> AsyncGenerator[dict[str, Any], None]:
        """The current state, then every event as it happens."""
        async with self.hub.listen(repl.id) as queue:
            yield await self.current_event(repl.id)
            while True:
                event = await queue.get()
                yield await self.current_event(repl.id) if event is RESYNC else event

    # Start

    async def start(self, repl: Repl) -> str:
        """Claim and begin a start; answers "starting" or "running". Two starts at the
        same moment make one workload: the second joins the first."""
        op, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        found = await self.store.claim_start(repl.id, repl.owner_id, {
            "state": "starting", "op": op, "secret": secret,
            "startedAt": now_iso(), "ownerId": repl.owner_id, "beat": str(time.time()),
            "event": json.dumps(progress_event(0, "Start requested", "starting")),
        }, max_active=self.max_active_per_user, max_starting=self.max_concurrent_starts)
        if found == "user-limit":
            raise TooMany(
                f"you can run at most {self.max_active_per_user} REPLs at once; "
                "stop one first", retry_after=30)
        if found == "busy":
            raise TooMany("the portal is starting many REPLs right now; try again shortly",
                          retry_after=5)
        if found == "stopping":
            raise Conflict("the REPL is stopping; start it again once it has stopped")
        if found == "claimed":
            self._spawn(repl.id, self._beating(repl.id, op, self._start(repl, op, secret)))
            return "starting"
        return found

    async def wait_ready(self, repl: Repl) -> dict[str, str]:
        """Wait for the start under way to finish; answers the running session."""
        deadline = self.start_timeout + 30
        async with self.hub.listen(repl.id) as queue:
            try:
                async with asyncio.timeout(deadline):
                    while True:
                        session = await self.store.session(repl.id)
                        state = session.get("state")
                        if state == "running":
                            return session
                        if state in ("failed", None) or state == "stopping":
                            event = json.loads(session.get("event", "{}"))
                            raise StartFailedError(
                                event.get("message") or f"the REPL is {state}")
                        await queue.get()
            except TimeoutError:
                # The start itself ends by start_timeout; this is its clean-up hanging.
                raise StartFailedError(
                    f"the REPL did not become ready within {deadline:g} s") from None

    def _spawn(self, repl_id: str, operation: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(operation)
        self._operations[repl_id] = task
        task.add_done_callback(lambda done: self._forget(repl_id, done))
        return task

    async def _beating(self, repl_id: str, op: str,
                       operation: Coroutine[Any, Any, None]) -> None:
        """Run the operation while beating its heartbeat, so reconciliation on any
        portal process can tell a slow operation from one whose process died."""
        async def beat() -> None:
            while True:
                await asyncio.sleep(self.operation_lease / 4)
                with contextlib.suppress(Exception):  # a missed beat is not a failure
                    await self.store.beat(repl_id, op, time.time())

        beating = asyncio.create_task(beat())
        try:
            await operation
        finally:
            beating.cancel()

    def _forget(self, repl_id: str, task: asyncio.Task[None]) -> None:
        if self._operations.get(repl_id) is task:
            del self._operations[repl_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("operation on %s failed", repl_id, exc_info=task.exception())

    def _reporter(self, repl_id: str, op: str, state: str) -> Report:
        async def report(progress: int, message: str) -> None:
            fields = {"beat": str(time.time())}
            if not await self.store.update_session(
                repl_id, op, fields, progress_event(progress, message, state)
            ):
                raise _Superseded
        return report

    async def _start(self, repl: Repl, op: str, secret: str) -> None:
        spec = WorkloadSpec(
            repl_id=repl.id, owner_id=repl.owner_id, owner_login=repl.owner_login,
            template=self.catalog[repl.template], storage_prefix=repl.storage_prefix,
            runner_secret=secret,
        )
        report = self._reporter(repl.id, op, "starting")
        began = time.monotonic()
        try:
            async with asyncio.timeout(self.start_timeout):
                await report(0, "Start requested")
                handle = await self.runtime.start(spec, report)
            url = self.access(repl, secret, "").url
            if not await self.store.update_session(
                repl.id, op, {"state": "running", "handle": json.dumps(handle),
                              "beat": str(time.time()), "lastActivity": str(time.time())},
                progress_event(100, "Your REPL is ready", "running", ready=True, url=url),
            ):
                raise _Superseded
            STARTS.labels("ready").inc()
            START_SECONDS.observe(time.monotonic() - began)
        except (_Superseded, asyncio.CancelledError):
            STARTS.labels("cancelled").inc()
            # A stop claimed the session: nobody has had the URL yet, so nothing to save.
            await asyncio.shield(self._abandon(repl.id))
        except Exception as exc:  # every cause ends as "failed", with the reason shown
            reason = _reason(exc, self.start_timeout)
            STARTS.labels("failed").inc()
            log.warning("start of %s failed: %s", repl.id, reason)
            # What is in the way of a start is not its to remove: it may hold unsaved files.
            discard = not isinstance(exc, WorkloadExists)
            await asyncio.shield(self._fail(repl.id, op, reason, discard=discard))

    async def _abandon(self, repl_id: str) -> None:
        await self.runtime.discard(repl_id)
        await self.store.end_session(repl_id, progress_event(100, "Stopped", "stopped"))

    async def _fail(self, repl_id: str, op: str, reason: str, *, discard: bool = True) -> None:
        try:
            if discard:
                await self.runtime.discard(repl_id)
        finally:
            recorded = await self.store.update_session(
                repl_id, op, {"state": "failed", "reason": reason},
                progress_event(100, f"Start failed: {reason}", "failed", failed=True),
            )
        if not recorded and await self.store.session_state(repl_id) == "stopping":
            # A stop on another portal process claimed the session while this start was
            # stuck; it cannot cancel the start, so it waits for the start to end it.
            await self.store.end_session(repl_id, progress_event(100, "Stopped", "stopped"))

    # Stop

    async def stop(self, repl: Repl) -> None:
        """Save the files and remove the workload. A stop during a start cancels it."""
        task = self._operations.get(repl.id)
        op = secrets.token_hex(8)
        found = await self.store.claim_stop(repl.id, op)
        if found == "absent":
            return
        if found in ("starting", "stopping"):
            if found == "starting" and task is not None:
                task.cancel()
            await self._wait_ended(repl.id)
            return
        stopping = self._spawn(repl.id, self._beating(repl.id, op, self._stop(repl, op)))
        await asyncio.shield(stopping)
        if await self.store.session_state(repl.id) is not None:
            session = await self.store.session(repl.id)
            raise Unavailable(json.loads(session["event"])["message"])

    async def _stop(self, repl: Repl, op: str) -> None:
        report = self._reporter(repl.id, op, "stopping")
        try:
            await report(0, "Stop requested")
            await self.runtime.stop(repl.id, repl.storage_prefix, report)
        except _Superseded:
            return  # another process took the stop over
        except Exception as exc:  # whatever went wrong, the owner sees it and can retry
            if isinstance(exc, StopFailed | RuntimeUnavailable):
                reason = str(exc)
            else:
                log.exception("stop of %s failed", repl.id)
                reason = f"unexpected error ({type(exc).__name__})"
            STOPS.labels("failed").inc()
            await self.store.update_session(
                repl.id, op, {"state": "running"},
                progress_event(100, f"{reason}; the REPL keeps running, try stopping again",
                               "running", failed=True),
            )
            return
        STOPS.labels("saved").inc()
        await self.store.end_session(repl.id, progress_event(100, "Stopped; files saved",
                                                             "stopped"))

    async def _wait_ended(self, repl_id: str) -> None:
        async with self.hub.listen(repl_id) as queue:
            try:
                async with asyncio.timeout(self.start_timeout + 30):
                    while await self.store.session_state(repl_id) == "stopping":
                        await queue.get()
            except TimeoutError:
                raise Unavailable("the REPL is still stopping; try again shortly") from None

    async def discard(self, repl: Repl) -> None:
        """End the session without saving (the REPL is being deleted)."""
        op = secrets.token_hex(8)
        found = await self.store.claim_stop(repl.id, op)
        task = self._operations.get(repl.id)
        if found == "starting" and task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if found != "absent":
            await self._abandon(repl.id)

    def stop_in_background(self, repl: Repl) -> None:
        self._spawn(f"{repl.id}:stop", self._idle_stop(repl))

    async def stop_for_runner(self, repl_id: str, secret: str) -> None:
        """The runner's own idle stop, allowed only with its session's secret."""
        session = await self.store.session(repl_id)
        expected = session.get("secret", "")
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise NotFound("REPL not found")
        repl = await self.store.get_repl(repl_id)
        if repl is None:
            raise NotFound("REPL not found")
        IDLE_STOPS.inc()
        self.stop_in_background(repl)

    async def _idle_stop(self, repl: Repl) -> None:
        try:
            await self.stop(repl)
        except PortalError as exc:
            log.warning("stop of %s did not finish: %s", repl.id, exc.message)

    # Reconciliation

    async def reconcile(self) -> None:
        """Make sessions and workloads agree: adopt what still runs, clear sessions whose
        workload is gone, and stop (saving files) workloads that nobody owns."""
        sessions = await self.store.active_sessions()
        for repl_id in sessions:
            if repl_id in self._operations:
                continue
            await self._reconcile_session(repl_id)
        for repl_id in await self.runtime.list_workloads() - self._operations.keys():
            op = secrets.token_hex(8)
            if repl_id in sessions:
                # A failed start left it: its clean-up failed, or it found this earlier
                # workload in its way.
                claimed = await self.store.claim_stop(repl_id, op, only_from="failed")
                if claimed == "failed":
                    await self._save_leftover(repl_id, op)
            elif await self.store.claim_orphan(repl_id, {
                "state": "stopping", "op": op, "beat": str(time.time()),
                "event": json.dumps(progress_event(0, "Saving an earlier workspace",
                                                   "stopping")),
            }):
                await self._save_leftover(repl_id, op)

    async def _save_leftover(self, repl_id: str, op: str) -> None:
        """Save the files of a workload that no live session owns, then remove it. The
        caller has claimed its session as "stopping" under `op`, so a start meanwhile
        waits (409) instead of racing the removal. Whether anyone edited its files is
        unknown, so they are saved, never just discarded."""
        repl = await self.store.get_repl(repl_id)
        try:
            if repl is None:  # the REPL was deleted, and its files with it
                await self.runtime.discard(repl_id)
            else:
                report = self._reporter(repl_id, op, "stopping")
                await self._beating(repl_id, op,
                                    self.runtime.stop(repl_id, repl.storage_prefix, report))
        except _Superseded:
            return
        except (StopFailed, RuntimeUnavailable) as exc:
            log.warning("could not save and remove the leftover workload of %s: %s",
                        repl_id, exc)
            # "failed" with a workload: the next pass tries again.
            await self.store.update_session(repl_id, op, {"state": "failed"}, progress_event(
                100, f"Saving an earlier workspace failed: {exc}", "failed", failed=True))
            return
        log.info("saved and removed the leftover workload of %s", repl_id)
        await self.store.end_session(repl_id, progress_event(100, "Stopped; files saved",
                                                             "stopped"))

    async def _reconcile_session(self, repl_id: str) -> None:
        session = await self.store.session(repl_id)
        state = session.get("state")
        repl = await self.store.get_repl(repl_id)
        if state is None or repl is None:
            await self._abandon(repl_id)
            return
        if state in ("starting", "stopping"):
            # An operation that stopped beating has died with its portal process.
            if time.time() - float(session.get("beat", "0")) < self.operation_lease:
                return
            if state == "starting":
                await self._fail(repl_id, session["op"], "the portal restarted during the start")
                return
            op = secrets.token_hex(8)
            await self.store.claim_stop(repl_id, op)
            await self.store.update_session(repl_id, session["op"], {"op": op},
                                            json.loads(session["event"]))
            await self._stop(repl, op)
            return
        if state == "running":
            handle = json.loads(session.get("handle", "{}"))
            if await self.runtime.is_running(repl_id, handle):
                return  # adopted
            try:
                await self.runtime.stop(repl_id, repl.storage_prefix, _quiet)
            except StopFailed as exc:
                log.warning("workload of %s is gone and its files could not be saved: %s",
                            repl_id, exc)
                return
            await self.store.end_session(
                repl_id, progress_event(100, "Stopped: the workload was gone", "stopped"))


class StartFailedError(Unavailable):
    status = 502


async def _quiet(progress: int, message: str) -> None:
    return None


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"the REPL did not become ready within {timeout:g} s"
    if isinstance(exc, StartFailed | RuntimeUnavailable):
        return str(exc)
    return f"unexpected error ({type(exc).__name__})"
