"""The app factory: wires settings, adapters, blueprints, errors and the cross-site rules."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import ValidationError
from quart import (
    Quart,
    Request,
    Response,
    g,
    has_websocket_context,
    render_template,
    request,
    websocket,
)
from quart.typing import ResponseReturnValue
from quart_cors import cors
from quart_rate_limiter import RateLimitExceeded
from quart_schema import QuartSchema, RequestSchemaValidationError
from quart_schema.openapi import Info
from werkzeug.exceptions import BadRequest, HTTPException

from portal.blueprints import api, auth, ops, pages, workspaces
from portal.csrf import check_csrf, csrf_token
from portal.errors import Forbidden, PortalError
from portal.headers import portal_policy, secure
from portal.identity import install as install_auth
from portal.logs import request_id
from portal.metrics import REQUEST_SECONDS
from portal.ratelimits import apply_limits, limiter
from portal.services import open_services
from portal.settings import PROJECT_ROOT, Settings, load_settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("devex.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

MAX_BODY_BYTES = 1 << 20
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PortalRequest(Request):
    def on_json_loading_failed(self, error: Exception) -> NoReturn:
        raise BadRequest("request body is not valid JSON")

    async def get_json(self, force: bool = False, silent: bool = False,
                       cache: bool = True) -> Any:
        try:
            return await super().get_json(force, silent, cache)
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None


def _wants_json() -> bool:
    if has_websocket_context():
        return True
    path = request.path
    if path.startswith(("/api/", "/auth/")) or path in ("/ping", "/healthz", "/readyz"):
        return request.accept_mimetypes.best != "text/html" or request.is_json
    return False


async def _error(message: str, status: int, headers: dict[str, str] | None = None) -> Any:
    if _wants_json():
        return {"error": message}, status, headers or {}
    template = "login.html" if request.path.startswith("/auth/") else "error.html"
    return await render_template(template, error=message, status=status), status, headers or {}


def _schema_message(exc: RequestSchemaValidationError) -> str:
    error = exc.validation_error
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        if not field:
            return "request body must be a JSON object"
        if first["type"] == "missing":
            return f"{field}: required"
        return f"{field}: {first['msg']}"
    return "request body must be a JSON object"


def _allowed_origin(origin: str, settings: Settings, host: str) -> bool:
    if settings.frontend_url and origin == settings.frontend_url:
        return True
    return urlsplit(origin).netloc == host


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or load_settings()
    app = Quart(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.request_class = PortalRequest
    app.secret_key = settings.session_secret
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_NAME="devex_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        QUART_AUTH_COOKIE_SECURE=settings.production,
        QUART_AUTH_COOKIE_SAMESITE="Lax",
        QUART_AUTH_DURATION=settings.login_duration,
        QUART_SCHEMA_CONVERT_CASING=False,
    )
    install_auth(app)
    QuartSchema(
        app,
        info=Info(title="Devex portal", version="0.1.0"),
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
    )
    for blueprint in (ops.bp, auth.bp, api.bp, pages.bp):
        app.register_blueprint(blueprint)
    if settings.runtime == "local":
        app.url_map.converters["repl"] = workspaces.ReplIdConverter
        app.register_blueprint(workspaces.bp)
    apply_limits(app, settings)

    policy = portal_policy(settings.github_url if settings.github_configured else None)

    @app.before_request
    async def begin_request() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(8)
        g.request_started = time.perf_counter()
        request_id.set(g.request_id)

    @app.after_request
    async def end_request(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            seconds = time.perf_counter() - started
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(
                seconds)
            # The path only: query strings can carry credentials and OAuth codes.
            access_log.info("%s %s %s", request.method, request.path, response.status_code,
                            extra={"method": request.method, "path": request.path,
                                   "status": response.status_code,
                                   "duration_ms": round(seconds * 1000, 2)})
            response.headers["X-Request-ID"] = g.request_id
        return secure(response, policy, hsts=settings.production, referrer="same-origin")

    @app.before_websocket
    async def begin_websocket() -> None:
        request_id.set(secrets.token_hex(8))

    @app.context_processor
    async def sign_in_options() -> dict[str, bool]:
        return {
            "github_enabled": settings.github_configured,
            "dev_login": settings.dev_login_enabled,
        }

    @app.before_serving
    async def open_adapters() -> None:
        app.extensions["devex"] = await open_services(settings)

    @app.after_serving
    async def close_adapters() -> None:
        services = app.extensions.pop("devex", None)
        if services is not None:
            await services.close()

    @app.before_request
    async def refuse_cross_site() -> None:
        # Browsers send Origin on cross-site posts; a request that carries a bearer token
        # cannot be forged by another site, so only cookie-borne requests are checked.
        origin = request.headers.get("Origin")
        if (
            request.method in _UNSAFE
            and origin is not None
            and "Authorization" not in request.headers
            and not _allowed_origin(origin, settings, request.host)
        ):
            raise Forbidden("cross-site request refused")

    app.before_request(check_csrf)
    limiter().init_app(app)
    app.add_template_global(csrf_token)

    @app.before_websocket
    async def refuse_cross_site_websocket() -> None:
        # Browsers send cookies on WebSocket handshakes from any page, so another site's
        # page must not be able to open one in the signed-in person's name.
        origin = websocket.headers.get("Origin")
        if origin is not None and not _allowed_origin(origin, settings, websocket.host):
            raise Forbidden("cross-site WebSocket refused")

    @app.errorhandler(PortalError)
    async def portal_error(exc: PortalError) -> ResponseReturnValue:
        return await _error(exc.message, exc.status, exc.headers)  # type: ignore[no-any-return]

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(exc: RequestSchemaValidationError) -> ResponseReturnValue:
        return await _error(_schema_message(exc), 400)  # type: ignore[no-any-return]

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        message = exc.description if status == 400 and exc.description else (
            exc.name.lower() if status != 404 else "not found"
        )
        if status == 413:
            message = f"request body larger than {MAX_BODY_BYTES} bytes"
        headers = {}
        if isinstance(exc, RateLimitExceeded):
            message = f"too many requests; try again in {exc.retry_after} s"
            headers["Retry-After"] = str(exc.retry_after)
        return await _error(message, status, headers)  # type: ignore[no-any-return]

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return await _error("internal error", 500)  # type: ignore[no-any-return]

    if settings.frontend_url:
        app = cors(
            app,
            allow_origin=[settings.frontend_url],
            allow_credentials=True,
            allow_headers=["Content-Type", "Authorization"],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
        )
    return app
