"""Failed logins, limited per account and per address, so passwords cannot be guessed at
speed: from one address across accounts, or at one account across addresses.

Only failures count (a person who logs in often is never slowed), and every attempt is
checked first: past either limit, a login is refused with 429 and `Retry-After` before
the password is even tried. Counted with the `limits` library on Redis, in keys of its
own (an account is named by a digest of its address, not the address); while Redis is
away, each replica counts in memory.

A per-account limit lets a stranger slow an account's owner down: the limit is kept to
a rate no person typing reaches (10 failures in 15 minutes by default), and it expires by
itself; the owner can still log in from the moment the window allows."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pybreaker
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from gateway.errors import ApiError

PREFIX = "fitmesh:login-failures"
T = TypeVar("T")


def account_key(email: str) -> str:
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]


class Lockout:
    def __init__(
        self,
        redis_url: str,
        per_account: str,
        per_address: str,
        breaker: pybreaker.CircuitBreaker,
        timeout: float,
    ) -> None:
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix=PREFIX)
        self.shared = SlidingWindowCounterRateLimiter(storage)
        self.local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.breaker, self.timeout = breaker, timeout
        self.account, self.address = parse(per_account), parse(per_address)

    def _limits(self, email: str, ip: str) -> list[tuple[RateLimitItem, str]]:
        return [(self.account, account_key(email)), (self.address, ip)]

    async def check(self, email: str, ip: str) -> None:
        """Refuse the attempt while either limit is spent."""
        for item, identity in self._limits(email, ip):
            spent, retry_after = await self._spent(item, identity)
            if spent:
                raise ApiError(
                    429,
                    "too many failed logins; try again later",
                    headers={"Retry-After": str(retry_after)},
                )

    async def failed(self, email: str, ip: str) -> None:
        for item, identity in self._limits(email, ip):
            await self._shared_or_local(lambda s, i=item, k=identity: s.hit(i, k))  # type: ignore[misc]

    async def _spent(self, item: RateLimitItem, identity: str) -> tuple[bool, int]:
        allowed = await self._shared_or_local(lambda s: s.test(item, identity))
        if allowed:
            return False, 0
        stats = await self._shared_or_local(lambda s: s.get_window_stats(item, identity))
        return True, max(1, math.ceil(stats.reset_time - time.time()))

    async def _shared_or_local(
        self, call: Callable[[SlidingWindowCounterRateLimiter], Awaitable[T]]
    ) -> T:
        try:
            with self.breaker.calling():
                async with asyncio.timeout(self.timeout):
                    return await call(self.shared)
        except (pybreaker.CircuitBreakerError, RedisError, OSError, TimeoutError):
            return await call(self.local)
