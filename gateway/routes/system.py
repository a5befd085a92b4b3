"""Liveness, readiness, metrics and client-side error reports."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import bodies, responses
from gateway.deps import Public, Svc
from gateway.errors import RESPONSES
from gateway.state import Services

router = APIRouter(tags=["system"])
client_log = structlog.get_logger("client")


@router.get("/healthz", include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _backend_serving(channel: grpc.aio.Channel, service: str) -> bool:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=1.0
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def _redis_up(svc: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(svc.redis.ping(), 1.0))
    except Exception:  # any failure to answer means "not ready"
        return False


@router.get("/readyz")
async def readyz(svc: Svc) -> JSONResponse:
    """Ready when every backend's grpc.health.v1 says SERVING and Redis answers."""
    backends = svc.clients.backends()
    results = await asyncio.gather(
        *(_backend_serving(b.channel, b.service) for b in backends), _redis_up(svc)
    )
    checks: dict[str, Any] = {b.name: ok for b, ok in zip(backends, results, strict=False)}
    checks["redis"] = results[-1]
    ready = all(results)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/api/v1/client-logs",
    status_code=202,
    response_model=responses.Accepted,
    dependencies=[Public],
    responses=RESPONSES,
)
async def client_logs(body: bodies.ClientLog, request: Request) -> responses.Accepted:
    """A client reports an error it met, with the request id it saw; it is logged with it."""
    client_log.log(
        {"debug": 10, "info": 20, "warning": 30, "error": 40}[body.level],
        "client_report",
        client_request_id=body.request_id,
        message=body.message,
        url=body.url,
        context=body.context,
        user_agent=request.headers.get("user-agent", "")[:300],
    )
    return responses.Accepted()
