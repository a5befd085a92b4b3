"""`python -m bench.bare`: the bare reference the gateway is measured against — FastAPI
answering every read with one Redis GET of a stored JSON body, served by uvicorn with
uvloop and httptools as the gateway is. No token, no rate limit, no log line, no metrics:
what a Python web process on this machine does at the least.

It answers the paths of the profile and statistics reads, so the bench drives it with the
very requests (and the same oha processes and rates) it sends to the gateways."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Response

KEY = "fitmesh:bench:bare"
WHAT = (
    "FastAPI, one Redis GET per request (redis.asyncio), uvicorn with uvloop and httptools,"
    " {processes} processes"
)


def create_app() -> FastAPI:
    redis = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/users/{user_id}")
    @app.get("/api/v1/users/{user_id}/statistics")
    async def read(user_id: str) -> Response:
        body = await redis.get(KEY)
        if body is None:
            return Response(status_code=404)
        return Response(body, media_type="application/json")

    return app


async def store(redis_url: str, body: bytes) -> None:
    """The body every read answers with (the bench stores a cached profile's answer)."""
    redis = aioredis.from_url(redis_url)
    try:
        await redis.set(KEY, body)
    finally:
        await redis.aclose()


def main() -> None:
    uvicorn.run(
        "bench.bare:create_app",
        factory=True,
        host=os.environ.get("HTTP_HOST", "127.0.0.1"),
        port=int(os.environ.get("HTTP_PORT", "8100")),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
