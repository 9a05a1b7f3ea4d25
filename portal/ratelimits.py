"""Rate limits on sign-in, create and start (quart-rate-limiter), counted in the portal's
Redis so that every replica shares them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from quart import current_app, request
from quart_rate_limiter import RateLimiter, rate_limit
from quart_rate_limiter.store import RateLimiterStoreABC

from portal.identity import caller
from portal.store.redis_store import rate_limit_key

F = TypeVar("F", bound=Callable[..., Any])
_PERIOD = timedelta(minutes=1)


class SharedStore(RateLimiterStoreABC):
    """quart-rate-limiter's arrival times, kept in the portal's own Redis connection pool
    (the embedded server has no URL before start-up) and expiring when no longer needed."""

    async def before_serving(self) -> None:
        return None

    async def after_serving(self) -> None:
        return None

    @staticmethod
    def _redis() -> Any:
        return current_app.extensions["devex"].store.redis

    async def get(self, key: str, default: datetime) -> datetime:
        value = await self._redis().get(rate_limit_key(key))
        return default if value is None else datetime.fromtimestamp(float(value), UTC)

    async def set(self, key: str, tat: datetime) -> None:
        ttl = max(int((tat - datetime.now(UTC)).total_seconds()) + 60, 60)
        await self._redis().set(rate_limit_key(key), tat.timestamp(), ex=ttl)


async def person_or_address() -> str:
    user = await caller()
    return f"user:{user.id}" if user is not None else f"addr:{request.remote_addr}"


def limiter() -> RateLimiter:
    return RateLimiter(key_function=person_or_address, store=SharedStore())


async def address() -> str:
    return f"addr:{request.remote_addr}"


def per_minute(setting: str, *, by_address: bool = False) -> Callable[[F], F]:
    """A rate limit whose count per minute is the named setting, read when the app is
    made (see `apply_limits`); per person, or per address for signing in."""
    def mark(view: F) -> F:
        view.__devex_rate__ = (setting, address if by_address else None)  # type: ignore[attr-defined]
        return view
    return mark


def apply_limits(app: Any, settings: Any) -> None:
    """Give each marked view its limit. The limit goes on a wrapper made for this app, so
    apps with other settings (tests make many) never share or stack limits."""
    for endpoint, view in list(app.view_functions.items()):
        marked = getattr(view, "__devex_rate__", None)
        if marked is None:
            continue
        setting, key = marked

        @wraps(view)
        async def limited(*args: Any, __view: Any = view, **kwargs: Any) -> Any:
            return await __view(*args, **kwargs)

        app.view_functions[endpoint] = rate_limit(getattr(settings, setting), _PERIOD,
                                                  key_function=key)(limited)
