"""The adapters and rule-keepers one portal process uses, built from the settings and
opened and closed with the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from quart import current_app

from portal.accounts import Accounts
from portal.catalog import load_catalog
from portal.events import EventHub
from portal.github import GitHubOAuth
from portal.lifecycle import Lifecycle, Sessions
from portal.metrics import ACTIVE_SESSIONS, EVENT_WATCHERS
from portal.runtime.base import Runtime
from portal.runtime.local import LocalRuntime
from portal.runtime.proxy import WorkspaceProxy
from portal.settings import Settings
from portal.storage import Storage
from portal.storage.local import LocalStorage
from portal.store.embedded import EmbeddedRedis
from portal.store.redis_store import RedisStore, connect

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 3.0
CLOSE_TIMEOUT = 10.0


def build_storage(settings: Settings) -> Storage:
    if settings.s3_bucket:
        # Imported here: botocore costs tens of MB that the embedded default never uses.
        from portal.storage.s3 import S3Storage

        return S3Storage(
            settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            concurrency=settings.storage_concurrency,
        )
    return LocalStorage(settings.data_dir / "files", concurrency=settings.storage_concurrency)


@dataclass
class Services:
    settings: Settings
    store: RedisStore
    storage: Storage
    lifecycle: Lifecycle
    accounts: Accounts
    github: GitHubOAuth | None
    runtime: Runtime
    hub: EventHub
    embedded_redis: EmbeddedRedis | None = field(default=None)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    proxy: WorkspaceProxy = field(default_factory=WorkspaceProxy)

    def workspace_address(self, repl_id: str) -> tuple[str, int] | None:
        """Where a local workspace's runner listens, if it runs here."""
        if isinstance(self.runtime, LocalRuntime):
            return self.runtime.address(repl_id)
        return None

    async def refresh_gauges(self) -> None:
        ACTIVE_SESSIONS.set(len(await self.store.active_sessions()))
        EVENT_WATCHERS.set(self.hub.watchers)

    async def health(self) -> dict[str, str]:
        """"ok" or the failure, per dependency; each check is bounded so a hung dependency
        cannot hang the probe."""
        checks = {
            "redis": self.store.ping(),
            "storage": self.storage.check(),
            "runtime": self.runtime.check(),
        }
        results = await asyncio.gather(
            *(asyncio.wait_for(check, HEALTH_TIMEOUT) for check in checks.values()),
            return_exceptions=True,
        )
        return {
            name: "ok" if not isinstance(result, BaseException) else _failure(result)
            for name, result in zip(checks, results, strict=True)
        }

    async def close(self) -> None:
        """Close every part in turn. Each gets CLOSE_TIMEOUT, and a failure in one does
        not skip the rest: a shutdown must finish within the orchestrator's grace period,
        a part that hangs is named in the log, and the embedded Redis, stopped last (it
        bounds its own wait), must still flush its data."""
        for task in self.background:
            task.cancel()
        steps: list[tuple[str, Awaitable[object]]] = [
            ("background tasks", asyncio.gather(*self.background, return_exceptions=True)),
            ("event hub", self.hub.close()),
            ("workspace proxy", self.proxy.close()),
            ("runtime", self.runtime.close()),
            ("storage", self.storage.close()),
            ("Redis client", self.store.close()),
        ]
        for name, step in steps:
            try:
                await asyncio.wait_for(step, CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("closing the %s took over %g s; shutting down without it",
                            name, CLOSE_TIMEOUT)
            except Exception:
                log.exception("closing the %s failed; shutting down without it", name)
        if self.embedded_redis is not None:
            await self.embedded_redis.stop()


async def open_services(settings: Settings) -> Services:
    catalog = load_catalog(settings.templates_dir)
    embedded = None
    redis_url = settings.redis_url
    if redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        await embedded.start()
        redis_url = embedded.url
        log.info("started embedded Redis at %s", redis_url)
    store = RedisStore(
        connect(redis_url, settings.redis_max_connections, settings.redis_pool_timeout)
    )
    storage = build_storage(settings)
    runtime = build_runtime(settings, storage)
    hub = EventHub(store.redis)
    await hub.start()
    sessions = Sessions(
        store, runtime, hub, catalog, start_timeout=settings.start_timeout,
        runner_base=runner_base(settings), max_active_per_user=settings.max_active_per_user,
        max_concurrent_starts=settings.max_concurrent_starts,
        operation_lease=settings.operation_lease,
    )
    lifecycle = Lifecycle(
        store, storage, catalog, settings.templates_dir, settings.max_repls_per_user, sessions
    )
    services = Services(
        settings=settings,
        store=store,
        storage=storage,
        lifecycle=lifecycle,
        accounts=Accounts(store, settings.login_duration),
        github=GitHubOAuth(settings) if settings.github_configured else None,
        runtime=runtime,
        hub=hub,
        embedded_redis=embedded,
    )
    services.background.add(asyncio.create_task(lifecycle.publish_templates()))
    services.background.add(
        asyncio.create_task(_reconcile_forever(sessions, settings.reconcile_interval)))
    return services


async def _reconcile_forever(sessions: Sessions, interval: float) -> None:
    while True:
        try:
            await sessions.reconcile()
        except Exception:
            log.exception("reconciliation failed; trying again in %g s", interval)
        await asyncio.sleep(interval)


def runner_base(settings: Settings) -> str | None:
    """The public base URL of workspaces; None when the portal proxies them itself."""
    if settings.runtime == "kubernetes":
        return f"{settings.runner_scheme}://{settings.runner_host}"
    return None


def build_runtime(settings: Settings, storage: Storage) -> Runtime:
    if settings.runtime == "kubernetes":
        from portal.runtime.kubernetes import KubernetesRuntime

        return KubernetesRuntime(settings)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    return LocalRuntime(
        settings.data_dir / "workspaces", storage,
        portal_url=settings.portal_internal_url or f"http://{host}:{settings.port}",
        dashboard_url=settings.dashboard_url or "",
        start_timeout=settings.start_timeout, idle_timeout=settings.idle_timeout,
    )


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "error: no answer within the health timeout"
    return f"error: {type(exc).__name__}: {exc}" if str(exc) else f"error: {type(exc).__name__}"


def services() -> Services:
    found: Services = current_app.extensions["devex"]
    return found
