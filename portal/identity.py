"""Who is calling: a personal API token (`Authorization: Bearer dvx_...`) or a browser
sign-in cookie. A cookie holds only a random sign-in id, signed by quart-auth, whose record
lives in Redis, so signing out revokes it everywhere."""

from __future__ import annotations

from typing import Any

from quart import g, has_websocket_context, request, websocket
from quart_auth import AuthUser, QuartAuth, current_user, login_user, logout_user

from portal.errors import Unauthenticated
from portal.models import User
from portal.services import services


def install(app: Any) -> None:
    """quart-auth for one app. A new extension per app: quart-auth reads its settings into
    the extension at the first init_app and keeps them, so a shared one would carry one
    app's cookie flags (Secure or not) into the next."""
    QuartAuth(cookie_name="devex_auth").init_app(app)


async def _resolve() -> tuple[User | None, float | None]:
    """The caller and, for a browser sign-in, when it expires."""
    headers = websocket.headers if has_websocket_context() else request.headers
    header = headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return await services().accounts.user_for_token(header[7:].strip()), None
    sid = current_user.auth_id
    found = None if sid is None else await services().accounts.user_for_sign_in(sid)
    return (None, None) if found is None else found


async def caller() -> User | None:
    if "devex_caller" not in g:
        g.devex_caller, g.devex_expires_at = await _resolve()
    user: User | None = g.devex_caller
    return user


async def require_caller() -> User:
    user = await caller()
    if user is None:
        raise Unauthenticated("sign in first")
    return user


def sign_in_expires_at() -> float | None:
    expires: float | None = g.get("devex_expires_at")
    return expires


def remember_sign_in(sid: str) -> None:
    login_user(AuthUser(sid), remember=True)


def current_sign_in_id() -> str | None:
    sid: str | None = current_user.auth_id
    return sid


def forget_sign_in() -> None:
    logout_user()
