"""The FastAPI application: routes, error handling, the one middleware, and the services a
gateway replica opens at start-up (gRPC clients, Redis, admission, live sessions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from gateway import errors
from gateway.admission import Admitter
from gateway.audit import Auditor
from gateway.auth import Verifier
from gateway.cache import Cache, PackedConnection, Restarts, redis_breaker
from gateway.clients import Clients
from gateway.groups import GroupSessions
from gateway.hub import Hub
from gateway.invalidation import CacheInvalidator
from gateway.live import Live
from gateway.lockout import Lockout
from gateway.middleware import RequestMiddleware
from gateway.routes import (
    account,
    audit,
    groups,
    health,
    imports,
    pages,
    sessions,
    system,
    users,
    web,
    webhooks,
    workouts,
    ws,
)
from gateway.settings import GatewaySettings
from gateway.state import Services
from gateway.tickets import Tickets
from servicekit import tracing
from servicekit.heap import freeze_startup_objects
from servicekit.revocations import RevokedSessions

DESCRIPTION = """
fitmesh's REST API. Sign up with `POST /api/v1/users/register`, get a token with
`POST /api/v1/users/login`, and send it as `Authorization: Bearer <token>`.
Errors are `application/problem+json` (RFC 9457) and carry the request id.
Creating writes accept an `Idempotency-Key` header.
"""
MAX_BODY = 64 * 1024
# A batch of 1,000 health samples.
MAX_BATCH_BODY = 512 * 1024
UNTRACED: TelemetryConfig = {
    "tracing": False,
    "metrics": False,  # Prometheus has the gateway's metrics
    "logs": False,
    "operation_spans": False,
}


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The request path's client: bytes in and out (cached answers go on the wire as they
        # are). Its calls are bounded by the cache and admission (asyncio.timeout); a socket
        # timeout would cost a task per command.
        # Each new connection checks for a restarted Redis (gateway.cache.Restarts).
        redis = aioredis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_seconds,
            redis_connect_func=Restarts().on_connect,
            connection_class=PackedConnection,
        )
        breaker = redis_breaker(
            settings.breaker_failures,
            settings.breaker_window_seconds,
            settings.breaker_cooldown_seconds,
        )
        # Blocking stream reads outlast those timeouts: a client of their own.
        stream_redis = aioredis.from_url(settings.redis_url, decode_responses=True)
        clients = Clients(settings)
        revoked = RevokedSessions()
        hub = Hub(stream_redis, revoked)
        await hub.start()
        live = Live(
            GroupSessions(stream_redis), hub, clients.activity, settings.group_recent_messages
        )
        cache = Cache(redis, breaker, settings.redis_timeout_seconds)
        auditor = Auditor(
            redis,
            settings.audit_flush_seconds,
            settings.audit_batch_records,
            settings.audit_pending_records,
        )
        app.state.services = Services(
            settings=settings,
            clients=clients,
            redis=redis,
            cache=cache,
            admitter=Admitter(
                redis,
                settings.rate_limit_ip,
                settings.rate_limit_user,
                settings.rate_limit_auth,
                breaker,
                settings.redis_timeout_seconds,
                cache.debt,
            ),
            verifier=Verifier(settings.jwt_public_key, settings.jwt_issuer),
            live=live,
            tickets=Tickets(redis, settings.ws_ticket_seconds),
            lockout=Lockout(
                settings.redis_url,
                settings.login_failures_account,
                settings.login_failures_ip,
                breaker,
                settings.redis_timeout_seconds,
            ),
            revoked=revoked,
            auditor=auditor,
        )
        auditor.start()
        invalidator = CacheInvalidator(stream_redis, cache)
        invalidator.start()
        sweeper = asyncio.create_task(live.sweep_forever(settings.group_idle_seconds))
        debts = asyncio.create_task(cache.pay_debts())
        freeze_startup_objects()
        try:
            yield
        finally:
            sweeper.cancel()
            debts.cancel()
            await hub.stop()
            await invalidator.stop()
            await clients.close()
            await auditor.stop()  # sends what it holds
            await redis.aclose()
            await stream_redis.aclose()

    traced = tracing.configure("gateway", settings.otel_exporter_otlp_endpoint) or tracing.enabled()
    app = FastAPI(
        title="fitmesh",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        # Untraced, FastAPI's own telemetry is off outright rather than asking the
        # OpenTelemetry providers whether it is on, on every request; traced, the
        # instrumentation below makes the spans and FastAPI's stands aside for it.
        telemetry=None if traced else UNTRACED,
    )
    errors.install(app)
    if traced:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,metrics")
    # Matched first, on every request: the cached reads (they take no body).
    for reads in (users.reads, workouts.reads, health.reads):
        app.include_router(reads, prefix="/api/v1", responses=errors.RESPONSES)
    # FastAPI's body limit, on the routers: there its refusals reach the problem handlers.
    for api in (
        users.router,
        workouts.router,  # before the rarer: workout starts and ends are most of the writes
        sessions.router,
        account.router,
        groups.router,
        audit.router,
        web.router,
    ):
        app.include_router(
            api, prefix="/api/v1", responses=errors.RESPONSES, max_body_size=MAX_BODY
        )
    app.include_router(
        webhooks.router, prefix="/api/v1", responses=errors.RESPONSES, max_body_size=MAX_BODY
    )
    app.include_router(
        health.router, prefix="/api/v1", responses=errors.RESPONSES, max_body_size=MAX_BATCH_BODY
    )
    # A workout file, in a multipart body.
    upload_body = settings.import_max_bytes + imports.MULTIPART_SLACK
    app.include_router(
        imports.router, prefix="/api/v1", responses=errors.RESPONSES, max_body_size=upload_body
    )
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(system.router, max_body_size=MAX_BODY)
    app.add_middleware(
        RequestMiddleware,
        max_body=MAX_BODY,
        larger={"/api/v1/health-metrics": MAX_BATCH_BODY, "/api/v1/workouts/imports": upload_body},
    )
    return app
