"""The rules for who someone is: browser sign-ins that can be revoked, dev login, and
personal API tokens of which only a hash is kept."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

from portal.errors import BadInput, NotFound
from portal.models import ApiToken, User
from portal.store.redis_store import RedisStore

TOKEN_PREFIX = "dvx_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_MAX_TOKEN_NAME = 64
_MAX_TOKENS = 20


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(self, store: RedisStore, login_duration: int) -> None:
        self.store = store
        self.login_duration = login_duration

    async def sign_in(self, user: User) -> str:
        """Record the profile and open a browser sign-in; answers its id for the cookie."""
        await self.store.save_user(user)
        sid = secrets.token_urlsafe(32)
        await self.store.add_web_session(sid, user, self.login_duration)
        return sid

    async def sign_out(self, sid: str) -> None:
        await self.store.remove_web_session(sid)

    async def user_for_sign_in(self, sid: str) -> tuple[User, float] | None:
        return await self.store.web_session(sid)

    @staticmethod
    def dev_user(login: object) -> User:
        if not isinstance(login, str) or not login.strip():
            raise BadInput("login: required")
        login = login.strip()
        if not _LOGIN.match(login):
            raise BadInput(
                "login: use 1 to 39 letters, digits or single hyphens, "
                "not starting or ending with a hyphen"
            )
        # GitHub ids are numeric, so a "dev-" id can never collide with a real account.
        return User(id=f"dev-{login.lower()}", login=login, name=login, created_at=now_iso())

    async def create_token(self, user: User, name: str) -> tuple[ApiToken, str]:
        name = name.strip()
        if not name or len(name) > _MAX_TOKEN_NAME:
            raise BadInput(f"name: use 1 to {_MAX_TOKEN_NAME} characters")
        if len(await self.store.list_tokens(user.id)) >= _MAX_TOKENS:
            raise BadInput(f"name: at most {_MAX_TOKENS} tokens; revoke one first")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            id=secrets.token_hex(6), name=name, user_id=user.id,
            created_at=now_iso(), token_hash=hash_token(secret),
        )
        await self.store.add_token(token)
        return token, secret

    async def list_tokens(self, user: User) -> list[ApiToken]:
        return await self.store.list_tokens(user.id)

    async def revoke_token(self, user: User, token_id: str) -> None:
        if not await self.store.remove_token(user.id, token_id):
            raise NotFound("token not found")

    async def user_for_token(self, secret: str) -> User | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        user_id = await self.store.token_owner(hash_token(secret))
        return None if user_id is None else await self.store.get_user(user_id)


def safe_return_to(target: object, frontend_url: str | None) -> str | None:
    """Where to send someone after signing in, if it is ours: a path on this site, or
    the IDE frontend. Anything else (another site, `//host`, a scheme) is refused, so a
    sign-in link can never bounce a person to an attacker's page."""
    if not isinstance(target, str) or not target or len(target) > 2048:
        return None
    if frontend_url and (target == frontend_url or target.startswith(frontend_url + "/")):
        return target
    if target.startswith("/") and not target.startswith(("//", "/\\")) and \
            not any(ord(c) < 32 for c in target) and "\\" not in target:
        return target
    return None
