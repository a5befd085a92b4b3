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
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Response

from bench.tools import ratio

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


def later_start(rounds: list[dict[str, Any]], first: float) -> float:
    """Where a later round's ladder starts: half the first round's rate (every machine
    holds that again a few minutes later), so a round costs a handful of steps."""
    if not rounds:
        return first
    return max(first, float(rounds[0]["sustained_rps"]) / 2)


def summary(rounds: list[dict[str, Any]], processes: int) -> dict[str, Any]:
    """The reference over its rounds, climbed at different times of one run: the round
    with the median sustained rate stands for it (of two middle ones, the higher: the
    reference is never made easier to reach), and every round's rate is kept beside it,
    so the spread a share inherits is read in the same place."""
    ordered = sorted(rounds, key=lambda r: r["sustained_rps"])
    rates = [r["sustained_rps"] for r in rounds]
    return {
        "app": WHAT.format(processes=processes),
        **ordered[len(ordered) // 2],
        "round_rates": rates,
        # The highest round's rate over the lowest's: how far one round could be off.
        "spread": ratio(max(rates), min(rates), 2),
        "rounds": rounds,
    }


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
