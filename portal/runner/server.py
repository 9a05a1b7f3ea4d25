"""`devex runner`: serves one workspace under its REPL's base path `/<repl-id>/`.

Every route but the bare `/ping` (the Kubernetes readiness probe, which answers nothing
about the workspace) needs the REPL's credential, given as `?token=` once, after which
it rides in a cookie scoped to the REPL's path. When nobody has been connected for the
idle period, the runner asks the portal to stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from quart import Quart, Response, abort, redirect, render_template, request, websocket
from quart.typing import ResponseReturnValue

from portal import credentials
from portal.headers import RUNNER_POLICY, secure
from portal.runner.files import Workspace
from portal.runner.protocol import Connection
from portal.settings import PROJECT_ROOT, RunnerSettings

log = logging.getLogger(__name__)

_IDLE_CHECK_SECONDS = 5.0


class Activity:
    """Who is connected and when anything last happened, for the idle stop."""

    def __init__(self) -> None:
        self.connections = 0
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()


def create_runner_app(settings: RunnerSettings) -> Quart:
    base = f"/{settings.repl_id}"
    app = Quart(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), static_url_path=f"{base}/static")
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    cookie = f"devex_ws_{settings.repl_id}"
    workspace = Workspace(settings.workspace)
    activity = Activity()

    def allowed(token: str | None) -> bool:
        return token is not None and credentials.verify(settings.secret, settings.repl_id, token)

    @app.before_request
    async def require_credential() -> None:
        if request.path == "/ping":
            return  # the readiness probe is not a person using the workspace
        if not allowed(request.args.get("token") or request.cookies.get(cookie)):
            abort(401)
        activity.touch()

    @app.before_websocket
    async def require_websocket_credential() -> None:
        token = websocket.args.get("token")
        if token is None:
            # Browsers attach cookies to a WebSocket handshake from any page of the same
            # site, so the cookie counts only for the workspace page's own origin. The
            # IDE frontend on its own origin passes the credential in the address.
            origin = websocket.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != websocket.host:
                abort(403)
            token = websocket.cookies.get(cookie)
        if not allowed(token):
            abort(401)

    @app.get("/ping")
    async def ping() -> ResponseReturnValue:
        return {"status": "ok"}

    @app.get(f"{base}/ping")
    async def repl_ping() -> ResponseReturnValue:
        return {"status": "ok", "replId": settings.repl_id}

    @app.get(f"{base}/")
    async def page() -> ResponseReturnValue:
        token = request.args.get("token")
        if token is not None:
            # Trade the link's credential for a cookie, so it leaves the address bar.
            response = redirect(f"{base}/")
            response.set_cookie(cookie, token, path=f"{base}/", httponly=True,
                                samesite="Lax", secure=request.scheme == "https",
                                max_age=credentials.DEFAULT_TTL)
            return response
        return await render_template("workspace.html", repl_id=settings.repl_id,
                                     dashboard_url=settings.dashboard_url)

    @app.websocket(f"{base}/api/v1/repl/ws")
    async def channel() -> None:
        await websocket.accept()
        outgoing: asyncio.Queue[str] = asyncio.Queue()

        def send(event: str, data: Any) -> None:
            outgoing.put_nowait(json.dumps({"event": event, "data": data}))

        async def writer() -> None:
            while True:
                await websocket.send(await outgoing.get())

        connection = Connection(workspace, settings.shell, send, activity.touch)
        activity.connections += 1
        activity.touch()
        writing = asyncio.create_task(writer())
        try:
            while True:
                raw = await websocket.receive()
                await connection.receive(raw)
        finally:
            activity.connections -= 1
            activity.touch()
            await connection.close()
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing

    @app.route(f"{base}/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    async def anything_else(rest: str) -> ResponseReturnValue:
        abort(404)

    @app.after_request
    async def security_headers(response: Response) -> Response:
        # No referrer: a workspace link carries its credential until the redirect.
        return secure(response, RUNNER_POLICY, hsts=request.scheme == "https",
                      referrer="no-referrer")

    @app.errorhandler(401)
    async def refused(_: Exception) -> ResponseReturnValue:
        return Response(json.dumps({"error": "a valid workspace credential is required"}),
                        status=401, content_type="application/json")

    @app.before_serving
    async def start_idle_watch() -> None:
        if settings.portal_url:
            app.extensions["idle"] = asyncio.create_task(idle_watch(settings, activity))

    @app.after_serving
    async def stop_idle_watch() -> None:
        task = app.extensions.pop("idle", None)
        if task is not None:
            task.cancel()

    return app


async def idle_watch(settings: RunnerSettings, activity: Activity) -> None:
    """Ask the portal to stop this workspace once nobody has used it for the idle period."""
    url = f"{settings.portal_url}/api/runner/{settings.repl_id}"
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            await asyncio.sleep(min(_IDLE_CHECK_SECONDS, settings.idle_timeout / 2))
            idle_for = time.monotonic() - activity.last
            if activity.connections or idle_for < settings.idle_timeout:
                continue
            try:
                response = await client.delete(
                    url, headers={"Authorization": f"Bearer {settings.secret}"}
                )
                log.info("asked the portal to stop idle workspace: %s", response.status_code)
                if response.status_code < 500:
                    activity.touch()  # asked; ask again only after another idle period
            except httpx.HTTPError as exc:
                log.warning("could not reach the portal to stop: %s", type(exc).__name__)
