"""`/<repl-id>/...`: local workspaces, proxied to their runner. Only registered when
workspaces run as local processes; on Kubernetes the ingress serves these paths."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, Response, abort, request, websocket
from quart.typing import ResponseReturnValue
from quart_schema import hide
from werkzeug.datastructures import Headers
from werkzeug.routing import BaseConverter

from portal.runtime.proxy import WorkspaceGone
from portal.services import services

bp = Blueprint("workspaces", __name__)


class ReplIdConverter(BaseConverter):
    regex = "[a-f0-9]{16}"


def _address(repl_id: str) -> tuple[str, int]:
    address = services().workspace_address(repl_id)
    if address is None:
        abort(404)
    return address


@bp.route("/<repl:repl_id>/", defaults={"rest": ""},
          methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<repl:repl_id>/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@hide
async def forward(repl_id: str, rest: str) -> ResponseReturnValue:
    try:
        status, headers, body = await services().proxy.http(
            _address(repl_id), request.method, request.path, request.query_string,
            dict(request.headers), cast(bytes, await request.get_data(as_text=False)),
        )
    except WorkspaceGone:
        abort(502)
    return Response(body, status=status, headers=Headers(headers))


@bp.websocket("/<repl:repl_id>/<path:rest>")
async def forward_websocket(repl_id: str, rest: str) -> ResponseReturnValue | None:
    try:
        refused = await services().proxy.websocket(
            _address(repl_id), websocket.path, websocket.query_string, dict(websocket.headers),
            websocket.accept, websocket.receive, websocket.send,
        )
    except WorkspaceGone:
        abort(502)
    if refused is not None:
        abort(refused)
    return None
