"""Server-rendered pages for a person in a browser."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, url_for
from quart.typing import ResponseReturnValue

from portal.identity import caller
from portal.services import services

bp = Blueprint("pages", __name__)


@bp.get("/")
async def index() -> ResponseReturnValue:
    signed_in = await caller() is not None
    return redirect(url_for("pages.dashboard" if signed_in else "pages.login"))


@bp.get("/login")
async def login() -> ResponseReturnValue:
    if await caller() is not None:
        return redirect(url_for("pages.dashboard"))
    return await render_template("login.html")


@bp.get("/dashboard")
async def dashboard() -> ResponseReturnValue:
    user = await caller()
    if user is None:
        return redirect(url_for("pages.login"))
    lifecycle = services().lifecycle
    return await render_template(
        "dashboard.html",
        user=user,
        repls=await lifecycle.list_repls(user),
        templates=lifecycle.templates(),
    )
