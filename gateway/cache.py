"""The shared Redis cache (cache-aside). Redis is an optimisation here: when it is slow or
down, reads go to the backends and writes skip it, behind a breaker of its own so a dead
Redis costs nothing per request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pybreaker
import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError

from gateway.breakers import make_breaker

log = structlog.get_logger("cache")
T = TypeVar("T")
LOOKUPS = Counter("gateway_cache_requests_total", "Cache lookups.", ["kind", "result"])


def _redis_fault(exc: BaseException) -> bool:
    return isinstance(exc, RedisError | OSError | TimeoutError)


class Cache:
    def __init__(
        self, redis: aioredis.Redis, failures: int, window: float, cooldown: float
    ) -> None:
        self.redis = redis
        self.breaker = make_breaker("redis", failures, window, cooldown, _redis_fault)

    async def guarded(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        """Run a Redis operation; on any Redis trouble, the default instead."""
        try:
            with self.breaker.calling():
                return await op()
        except (pybreaker.CircuitBreakerError, RedisError, OSError, TimeoutError):
            return default

    async def get(self, kind: str, key: str, field: str | None = None) -> Any | None:
        async def read() -> Any:
            return await (self.redis.hget(key, field) if field else self.redis.get(key))

        raw = await self.guarded(read, None)
        LOOKUPS.labels(kind, "hit" if raw is not None else "miss").inc()
        return json.loads(raw) if raw is not None else None

    async def put(self, key: str, value: Any, ttl: int, field: str | None = None) -> None:
        data = json.dumps(value, separators=(",", ":"))

        async def write() -> None:
            if field is None:
                await self.redis.set(key, data, ex=ttl)
                return
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, field, data)
                pipe.expire(key, ttl, nx=True)
                await pipe.execute()

        await self.guarded(write, None)

    async def forget(self, *keys: str) -> None:
        async def delete() -> None:
            await self.redis.delete(*keys)

        await self.guarded(delete, None)

    async def through(
        self,
        kind: str,
        key: str,
        ttl: int,
        load: Callable[[], Awaitable[T]],
        field: str | None = None,
    ) -> T | Any:
        """The cached value, or load it, cache it and return it."""
        cached = await self.get(kind, key, field)
        if cached is not None:
            return cached
        value = await load()
        await self.put(key, value, ttl, field)
        return value
