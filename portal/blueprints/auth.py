"""Sign-in and sign-out: GitHub OAuth, dev login, and who the caller is."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, abort, redirect, render_template, request, session, url_for
from quart.typing import ResponseReturnValue
from quart_schema import document_request, hide

from portal.accounts import safe_return_to
from portal.blueprints.schemas import AuthStatusOut, DevLogin, MessageOut, UserOut, documented
from portal.github import SignInError
from portal.identity import (
    caller,
    current_sign_in_id,
    forget_sign_in,
    remember_sign_in,
    require_caller,
    sign_in_expires_at,
)
from portal.ratelimits import per_minute
from portal.services import services

bp = Blueprint("auth", __name__)

_DENIED = "You declined access on GitHub, so you are not signed in."
_BAD_STATE = "This sign-in link has expired or did not start here. Please sign in again."


def _after_sign_in(wanted: object = None) -> str:
    frontend = services().settings.frontend_url
    safe = safe_return_to(wanted, frontend)
    if safe is not None:
        return safe
    return f"{frontend}/dashboard" if frontend else url_for("pages.dashboard")


def _wants_page() -> bool:
    """A browser form post or navigation, as opposed to a script calling the API."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return True
    return request.accept_mimetypes.best == "text/html"


async def _sign_in_failed(message: str, status: int) -> ResponseReturnValue:
    return await render_template("login.html", error=message), status


@bp.route("/auth/github/login", methods=["GET"])
@hide
@bp.route("/auth/github", methods=["POST"])
@per_minute("rate_sign_in", by_address=True)
async def github_login() -> ResponseReturnValue:
    github = services().github
    if github is None:
        abort(404)
    state = secrets.token_urlsafe(32)
    session["oauth_state"] = state
    wanted = request.args.get("next") or (await request.form).get("next")
    session["return_to"] = safe_return_to(wanted, services().settings.frontend_url)
    return redirect(github.authorize_url(state), 302 if request.method == "GET" else 303)


@bp.get("/auth/github/callback")
@hide
@per_minute("rate_sign_in", by_address=True)
async def github_callback() -> ResponseReturnValue:
    github = services().github
    if github is None:
        abort(404)
    expected = session.pop("oauth_state", None)
    state = request.args.get("state", "")
    if not expected or not secrets.compare_digest(state, expected):
        return await _sign_in_failed(_BAD_STATE, 400)
    if request.args.get("error"):
        message = _DENIED if request.args["error"] == "access_denied" else (
            f"GitHub did not sign you in ({request.args['error']})."
        )
        return await _sign_in_failed(message, 403)
    code = request.args.get("code")
    if not code:
        return await _sign_in_failed("GitHub sent no sign-in code. Please try again.", 400)
    try:
        profile = await github.fetch_profile(code)
    except SignInError as exc:
        return await _sign_in_failed(str(exc), 502)
    remember_sign_in(await services().accounts.sign_in(profile))
    return redirect(_after_sign_in(session.pop("return_to", None)))


@bp.post("/auth/dev/login")
@per_minute("rate_sign_in", by_address=True)
@documented(UserOut, errors=(400, 404, 413, 429))
@document_request(DevLogin)
async def dev_login() -> ResponseReturnValue:
    if not services().settings.dev_login_enabled:
        abort(404)
    wanted = None
    if request.is_json:
        data: Any = await request.get_json()
        login = data.get("login") if isinstance(data, dict) else None
    else:
        form = await request.form
        login, wanted = form.get("login"), form.get("next")
    user = services().accounts.dev_user(login)
    remember_sign_in(await services().accounts.sign_in(user))
    if _wants_page():
        return redirect(safe_return_to(wanted, None) or url_for("pages.dashboard"), 303)
    return user.to_json()


@bp.post("/auth/logout")
@documented(MessageOut)
async def logout() -> ResponseReturnValue:
    sid = current_sign_in_id()
    if sid is not None:
        await services().accounts.sign_out(sid)
    forget_sign_in()
    if _wants_page():
        return redirect(url_for("pages.login"), 303)
    return {"message": "signed out"}


@bp.get("/auth/me")
@documented(UserOut, errors=(401,))
async def me() -> ResponseReturnValue:
    return (await require_caller()).to_json()


@bp.get("/auth/status")
@documented(AuthStatusOut)
async def status() -> ResponseReturnValue:
    user = await caller()
    if user is None:
        return {"authenticated": False}
    answer: dict[str, Any] = {"authenticated": True, "user": user.to_json()}
    expires = sign_in_expires_at()
    if expires is not None:
        answer["token_expires_at"] = (
            datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
            .replace("+00:00", "Z")
        )
    return answer
