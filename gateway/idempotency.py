"""`Idempotency-Key` on creating writes: a retried request gets the first response back and
creates nothing twice. The first response is kept in Redis for a day; a retry that arrives
while the first is still running gets 409 rather than running twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response

from gateway.cache import Cache

log = structlog.get_logger("idempotency")
IN_PROGRESS = "in-progress"
MAX_KEY = 255


def _fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def once(
    cache: Cache,
    key: str | None,
    scope: str,
    body: Any,
    ttl: int,
    handler: Callable[[], Awaitable[JSONResponse]],
) -> Response:
    if not key:
        return await handler()
    if len(key) > MAX_KEY:
        raise HTTPException(400, f"Idempotency-Key is longer than {MAX_KEY} characters")
    slot = f"fitmesh:idempotency:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
    fingerprint = _fingerprint(body)
    redis = cache.redis

    async def claim() -> bool:
        return bool(await redis.set(slot, IN_PROGRESS, nx=True, ex=60))

    claimed = await cache.guarded(claim, None)
    if claimed is None:
        log.warning("idempotency_unavailable", scope=scope)  # Redis down: run it once anyway
        return await handler()
    if not claimed:
        stored = await cache.guarded(lambda: redis.get(slot), None)
        if stored is None or stored == IN_PROGRESS:
            raise HTTPException(409, "a request with this Idempotency-Key is still running")
        first = json.loads(stored)
        if first["fingerprint"] != fingerprint:
            raise HTTPException(422, "this Idempotency-Key was used with a different request")
        return JSONResponse(
            first["body"], status_code=first["status"], headers={"Idempotent-Replayed": "true"}
        )
    try:
        response = await handler()
    except BaseException:
        await cache.forget(slot)  # a failed attempt may be retried with the same key
        raise
    record = {
        "status": response.status_code,
        "body": json.loads(bytes(response.body)),
        "fingerprint": fingerprint,
    }

    async def keep() -> None:
        await redis.set(slot, json.dumps(record), ex=ttl)

    await cache.guarded(keep, None)
    return response
