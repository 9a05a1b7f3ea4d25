"""The JSON API used by the IDE frontend (compatible with the original service's routes)."""

from __future__ import annotations

from quart import Blueprint, request, websocket
from quart.typing import ResponseReturnValue
from quart_schema import hide, validate_request

from portal.blueprints.schemas import (
    MessageOut,
    NewRepl,
    NewToken,
    ReplOut,
    SessionOut,
    TemplateOut,
    TokenCreated,
    TokenOut,
    documented,
)
from portal.errors import NotFound
from portal.identity import require_caller
from portal.ratelimits import per_minute
from portal.services import services

bp = Blueprint("api", __name__, url_prefix="/api")
_PUBLIC = frozenset({"api.templates", "api.unknown_route", "api.runner_stop"})


@bp.before_request
async def authenticate() -> None:
    # Before any body is read, so a signed-out caller learns only that it must sign in.
    if request.method != "OPTIONS" and request.endpoint not in _PUBLIC:
        await require_caller()


@bp.get("/templates")
@documented(list[TemplateOut])
async def templates() -> ResponseReturnValue:
    return [template.to_json() for template in services().lifecycle.templates()]


@bp.get("/repl")
@documented(list[ReplOut], errors=(401,))
async def list_repls() -> ResponseReturnValue:
    user = await require_caller()
    return [view.to_json() for view in await services().lifecycle.list_repls(user)]


@bp.post("/repl/new")
@per_minute("rate_create")
@documented(ReplOut, 201, errors=(400, 401, 403, 413, 429, 503))
@validate_request(NewRepl)
async def new_repl(data: NewRepl) -> ResponseReturnValue:
    user = await require_caller()
    view = await services().lifecycle.create_repl(user, data.template, data.replName)
    return view.to_json(), 201


@bp.post("/repl/create")
@per_minute("rate_create")
@documented(SessionOut, 201, errors=(400, 401, 403, 409, 413, 429, 502, 503))
@validate_request(NewRepl)
async def create_and_start(data: NewRepl) -> ResponseReturnValue:
    """The seed service's one-step flow: create, start, answer where to reach it."""
    user = await require_caller()
    view = await services().lifecycle.create_repl(user, data.template, data.replName)
    answer = await services().lifecycle.start_session(
        user, view.repl.id, wait=True, portal_base=request.host_url
    )
    return answer, 201


@bp.get("/repl/session/<repl_id>")
@per_minute("rate_start")
@documented(SessionOut, also=((SessionOut, 202),), errors=(401, 404, 409, 429, 502, 503))
async def start_session(repl_id: str) -> ResponseReturnValue:
    user = await require_caller()
    wait = request.args.get("wait", "true").lower() not in ("false", "0", "no")
    answer = await services().lifecycle.start_session(
        user, repl_id, wait=wait, portal_base=request.host_url
    )
    return answer, 200 if answer["state"] == "running" else 202


@bp.delete("/repl/session/<repl_id>")
@documented(MessageOut, errors=(401, 404, 503))
async def stop_session(repl_id: str) -> ResponseReturnValue:
    user = await require_caller()
    await services().lifecycle.stop_session(user, repl_id)
    return {"message": "REPL stopped; files saved", "replId": repl_id}


@bp.delete("/runner/<repl_id>")
@documented(MessageOut, 202, errors=(404,))
async def runner_stop(repl_id: str) -> ResponseReturnValue:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else ""
    await services().lifecycle.sessions.stop_for_runner(repl_id, secret)
    return {"message": "stopping", "replId": repl_id}, 202


@bp.websocket("/repl/<repl_id>/events")
@hide
async def events(repl_id: str) -> None:
    user = await require_caller()
    stream = services().lifecycle.watch(user, repl_id)
    first = await anext(stream)  # ownership is checked before the socket is accepted
    await websocket.accept()
    await websocket.send_json(first)
    async for event in stream:
        await websocket.send_json(event)


@bp.delete("/repl/<repl_id>")
@documented(MessageOut, errors=(401, 404, 503))
async def delete_repl(repl_id: str) -> ResponseReturnValue:
    user = await require_caller()
    await services().lifecycle.delete_repl(user, repl_id)
    return {"message": "REPL deleted", "replId": repl_id}


@bp.post("/tokens")
@documented(TokenCreated, 201, errors=(400, 401, 413))
@validate_request(NewToken)
async def create_token(data: NewToken) -> ResponseReturnValue:
    user = await require_caller()
    token, secret = await services().accounts.create_token(user, data.name)
    return {**token.to_json(), "token": secret}, 201


@bp.get("/tokens")
@documented(list[TokenOut], errors=(401,))
async def list_tokens() -> ResponseReturnValue:
    user = await require_caller()
    return [token.to_json() for token in await services().accounts.list_tokens(user)]


@bp.delete("/tokens/<token_id>")
@documented(MessageOut, errors=(401, 404))
async def revoke_token(token_id: str) -> ResponseReturnValue:
    user = await require_caller()
    await services().accounts.revoke_token(user, token_id)
    return {"message": "token revoked", "id": token_id}


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@hide
async def unknown_route(unknown: str) -> ResponseReturnValue:
    raise NotFound(f"no API route {unknown!r}")
