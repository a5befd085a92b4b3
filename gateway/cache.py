"""The shared Redis cache (cache-aside) of whole answers: an entry is the JSON body as it
goes on the wire, so a hit is sent as it is. Reads happen in the admission round trip
(gateway.admission); this module writes and forgets. Redis is an optimisation here: when
it is slow or down, reads go to the backends and writes skip it, behind the breaker the
request path shares, so a dead Redis costs nothing per request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pybreaker
import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

from gateway.breakers import make_breaker

T = TypeVar("T")
LOOKUPS = Counter("gateway_cache_requests_total", "Cache lookups.", ["kind", "result"])


def redis_fault(exc: BaseException) -> bool:
    return isinstance(exc, RedisError | OSError | TimeoutError)


def redis_breaker(failures: int, window: float, cooldown: float) -> pybreaker.CircuitBreaker:
    return make_breaker("redis", failures, window, cooldown, redis_fault)


class Cache:
    def __init__(
        self, redis: aioredis.Redis, breaker: pybreaker.CircuitBreaker, timeout: float
    ) -> None:
        self.redis = redis
        self.breaker = breaker
        self.timeout = timeout

    async def guarded(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        """Run a Redis operation, within the timeout; on any Redis trouble, the default."""
        try:
            with self.breaker.calling():
                async with asyncio.timeout(self.timeout):
                    return await op()
        except (pybreaker.CircuitBreakerError, RedisError, OSError, TimeoutError):
            return default

    async def put(self, key: str, body: bytes, ttl: int, field: str | None = None) -> None:
        async def write() -> None:
            if field is None:
                await self.redis.set(key, body, ex=ttl)
                return
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, field, body)
                pipe.expire(key, ttl, nx=True)
                await pipe.execute()

        await self.guarded(write, None)

    async def forget(self, *keys: str) -> None:
        async def delete() -> None:
            await self.redis.delete(*keys)

        await self.guarded(delete, None)
