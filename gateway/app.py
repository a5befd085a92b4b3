"""The FastAPI application: routes, error handling, middleware, and the resources a
gateway replica opens at start-up (gRPC channels, Redis, breakers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI

from gateway import openapi, problems
from gateway.auth import Verifier
from gateway.backends import Backends
from gateway.cache import Cache
from gateway.groups import GroupSessions
from gateway.hub import Hub
from gateway.invalidation import CacheInvalidator
from gateway.limiting import per_client
from gateway.live import Live
from gateway.middleware import RequestMiddleware
from gateway.ratelimit import RateLimits
from gateway.routes import groups, pages, system, users, workouts, ws
from gateway.settings import GatewaySettings
from gateway.state import Gateway
from servicekit import tracing

DESCRIPTION = """
fitmesh's REST API. Sign up with `POST /api/v1/users/register`, get a token with
`POST /api/v1/users/login`, and send it as `Authorization: Bearer <token>`.
Errors are `application/problem+json` (RFC 9457) and carry the request id.
Creating writes accept an `Idempotency-Key` header.
"""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = aioredis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        backends = Backends(settings)
        breaker = (
            settings.breaker_failures,
            settings.breaker_window_seconds,
            settings.breaker_cooldown_seconds,
        )
        gw = Gateway(
            settings=settings,
            backends=backends,
            cache=Cache(redis, *breaker),
            limits=RateLimits(
                settings.redis_url,
                settings.rate_limit_ip,
                settings.rate_limit_user,
                settings.rate_limit_auth,
                *breaker,
            ),
            verifier=Verifier(settings.jwt_public_key, settings.jwt_issuer),
        )
        app.state.gateway = gw
        app.state.verifier = gw.verifier
        # Blocking stream reads outlast the cache client's short timeouts: a client of its own.
        stream_redis = aioredis.from_url(settings.redis_url, decode_responses=True)
        invalidator = CacheInvalidator(stream_redis)
        invalidator.start()
        hub = Hub(stream_redis)
        await hub.start()
        live = Live(GroupSessions(stream_redis), hub, backends, settings.group_recent_messages)
        app.state.live = live
        sweeper = asyncio.create_task(live.sweep_forever(settings.group_idle_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            await hub.stop()
            await invalidator.stop()
            await backends.close()
            await redis.aclose()
            await stream_redis.aclose()

    app = FastAPI(
        title="fitmesh",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    problems.install(app)
    openapi.install(app)
    if tracing.configure("gateway", settings.otel_exporter_otlp_endpoint) or tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,metrics")
    api = [Depends(per_client)]
    app.include_router(users.router, prefix="/api/v1", dependencies=api)
    app.include_router(workouts.router, prefix="/api/v1", dependencies=api)
    app.include_router(groups.router, prefix="/api/v1", dependencies=api)
    app.include_router(ws.router)
    app.include_router(pages.router)
    app.include_router(system.router)
    app.add_middleware(RequestMiddleware)
    return app
