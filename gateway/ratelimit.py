"""Rate limits per client IP and per user, shared by every gateway replica through Redis
(the `limits` library, sliding window counters). While Redis is unreachable each replica
limits on its own, in memory, rather than letting everything through."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pybreaker
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from gateway.breakers import make_breaker


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class RateLimits:
    def __init__(
        self,
        redis_url: str,
        ip: str,
        user: str,
        auth: str,
        failures: int,
        window: float,
        cooldown: float,
    ) -> None:
        self.shared = SlidingWindowCounterRateLimiter(
            RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="fitmesh:ratelimit",
                socket_timeout=0.25,
                socket_connect_timeout=0.25,
            )
        )
        self.local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.breaker = make_breaker(
            "ratelimit_redis",
            failures,
            window,
            cooldown,
            lambda exc: isinstance(exc, StorageError | RedisError | OSError | TimeoutError),
        )
        self.ip: RateLimitItem = parse(ip)
        self.user: RateLimitItem = parse(user)
        self.auth: RateLimitItem = parse(auth)

    async def hit(self, item: RateLimitItem, *identity: str, counts: bool = True) -> Verdict | None:
        """Count one request. The verdict's figures cost a second round trip, so a caller
        that will not show them (`counts=False`) gets None when the request is allowed."""
        try:
            with self.breaker.calling():
                return await self._hit(self.shared, item, identity, counts)
        except (pybreaker.CircuitBreakerError, StorageError, RedisError, OSError, TimeoutError):
            return await self._hit(self.local, item, identity, counts)

    @staticmethod
    async def _hit(
        limiter: SlidingWindowCounterRateLimiter,
        item: RateLimitItem,
        identity: tuple[str, ...],
        counts: bool,
    ) -> Verdict | None:
        allowed = await limiter.hit(item, *identity)
        if allowed and not counts:
            return None
        stats = await limiter.get_window_stats(item, *identity)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, item.amount, max(0, stats.remaining), reset)
