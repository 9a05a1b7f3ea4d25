"""Health for operators and load balancers."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response
from quart.typing import ResponseReturnValue
from quart_schema import hide

from portal.blueprints.schemas import AliveOut, PingOut, ReadyOut, documented
from portal.metrics import REGISTRY
from portal.services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@documented(AliveOut)
async def healthz() -> ResponseReturnValue:
    return {"status": "alive"}


@bp.get("/ping")
@documented(PingOut, also=((PingOut, 503),))
async def ping() -> ResponseReturnValue:
    report = await services().health()
    healthy = all(value == "ok" for value in report.values())
    return {"api": "ok", **report, "status": "ok" if healthy else "degraded"}, (
        200 if healthy else 503
    )


@bp.get("/metrics")
@hide
async def metrics() -> ResponseReturnValue:
    await services().refresh_gauges()
    return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


@bp.get("/readyz")
@documented(ReadyOut, also=((ReadyOut, 503),))
async def readyz() -> ResponseReturnValue:
    report = await services().health()
    ready = all(value == "ok" for value in report.values())
    return {"ready": ready, **report}, 200 if ready else 503

