"""Server-rendered pages for a person in a browser. Actions are htmx requests that answer
with the HTML fragment to swap in; without JavaScript the same forms post and redirect."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_schema import hide

from portal.accounts import safe_return_to
from portal.errors import BadInput, Forbidden, NotFound, PortalError
from portal.identity import caller
from portal.models import User
from portal.ratelimits import per_minute
from portal.services import services

bp = Blueprint("pages", __name__)


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


async def _signed_in() -> User:
    user = await caller()
    if user is None:
        raise _SignIn
    return user


class _SignIn(Exception):
    """The page needs a signed-in person."""


@bp.errorhandler(_SignIn)
async def _to_sign_in(_: _SignIn) -> ResponseReturnValue:
    if _htmx():
        return "", 401, {"HX-Redirect": url_for("pages.login")}
    return redirect(url_for("pages.login"))


@bp.get("/")
@hide
async def index() -> ResponseReturnValue:
    signed_in = await caller() is not None
    return redirect(url_for("pages.dashboard" if signed_in else "pages.login"))


@bp.get("/login")
@hide
async def login() -> ResponseReturnValue:
    wanted = safe_return_to(request.args.get("next"), None)
    if await caller() is not None:
        return redirect(wanted or url_for("pages.dashboard"))
    return await render_template("login.html", next=wanted)


async def _repls_section(user: User, status: int = 200, **form: Any) -> ResponseReturnValue:
    lifecycle = services().lifecycle
    context = {
        "user": user,
        "repls": await lifecycle.list_repls(user),
        "templates": lifecycle.templates(),
        "limit": lifecycle.max_repls_per_user,
        "form": {"name": "", "template": "python", "errors": {}, "problem": None, **form},
    }
    template = "partials/repls.html" if _htmx() else "dashboard.html"
    return await render_template(template, **context), status


@bp.get("/dashboard")
@hide
async def dashboard() -> ResponseReturnValue:
    return await _repls_section(await _signed_in())


@bp.post("/dashboard/repls")
@per_minute("rate_create")
@hide
async def create() -> ResponseReturnValue:
    user = await _signed_in()
    form = await request.form
    name, template = form.get("name", ""), form.get("template", "")
    try:
        await services().lifecycle.create_repl(user, template, name)
    except BadInput as exc:
        field = "template" if exc.message.startswith("template") else "name"
        message = exc.message.split(": ", 1)[-1]
        return await _repls_section(user, 200 if _htmx() else 400, name=name,
                                    template=template, errors={field: message})
    except (Forbidden, PortalError) as exc:
        return await _repls_section(user, 200 if _htmx() else exc.status, name=name,
                                    template=template, problem=exc.message)
    if not _htmx():
        return redirect(url_for("pages.dashboard"), 303)
    return await _repls_section(user)


async def _row(user: User, repl_id: str, problem: str | None = None) -> ResponseReturnValue:
    view = await services().lifecycle.status(user, repl_id)
    if not _htmx():
        return redirect(url_for("pages.dashboard"), 303)
    return await render_template("partials/repl_row.html", view=view, problem=problem)


@bp.get("/dashboard/repls/<repl_id>/row")
@hide
async def row(repl_id: str) -> ResponseReturnValue:
    return await _row(await _signed_in(), repl_id)


@bp.post("/dashboard/repls/<repl_id>/start")
@per_minute("rate_start")
@hide
async def start(repl_id: str) -> ResponseReturnValue:
    user = await _signed_in()
    problem = None
    try:
        await services().lifecycle.start_session(user, repl_id, wait=False,
                                                 portal_base=request.host_url)
    except NotFound:
        raise
    except PortalError as exc:
        problem = exc.message
    return await _row(user, repl_id, problem)


@bp.post("/dashboard/repls/<repl_id>/stop")
@hide
async def stop(repl_id: str) -> ResponseReturnValue:
    user = await _signed_in()
    await services().lifecycle.request_stop(user, repl_id)
    return await _row(user, repl_id)


@bp.post("/dashboard/repls/<repl_id>/delete")
@hide
async def delete(repl_id: str) -> ResponseReturnValue:
    user = await _signed_in()
    await services().lifecycle.delete_repl(user, repl_id)
    if _htmx():
        return await _repls_section(user)
    return redirect(url_for("pages.dashboard"), 303)


@bp.get("/dashboard/repls/<repl_id>/open")
@hide
async def open_workspace(repl_id: str) -> ResponseReturnValue:
    user = await _signed_in()
    return redirect(await services().lifecycle.open_url(user, repl_id, request.host_url))
