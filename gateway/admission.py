"""Admission of one request in one Redis round trip: every rate limit of the route is
checked and counted, and the cached answer (if the route has one) is read, by one script.

The limits are the `limits` library's sliding window counters, over the same keys and with
the same arithmetic (the script runs its acquire and window reads for each limit in turn);
the library itself needs two round trips per limit, and a cached read would pay four. While
Redis is unreachable each replica limits on its own, in memory, through the library.

A cached read is of the cache's current generation (servicekit.cachekeys): the script reads
the generation and the entry under it, and moves the generation on first when this replica
owes one (gateway.cache: a forget of its failed, or Redis was away), so what it reads after
an outage was written after."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pybreaker
import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from gateway.cache import Debt, Seen, connection_lost
from servicekit.cachekeys import GENERATION, GENERATION_LUA

SCRIPT = GENERATION_LUA + (Path(__file__).parent / "admission.lua").read_text()
PREFIX = "fitmesh:ratelimit"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One limit's decision, with the figures of the RateLimit headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    @classmethod
    def from_window(
        cls,
        item: RateLimitItem,
        allowed: bool,
        previous: int,
        previous_ttl: float,
        current: int,
        current_ttl: float,
    ) -> Verdict:
        """The library's `get_window_stats` arithmetic, on the counts the script returned."""
        expiry = item.get_expiry()
        weighted = previous * previous_ttl / expiry + current
        remaining = max(0, item.amount - math.floor(weighted))
        reset = 0.0
        if previous or current:
            previous_reset = previous_ttl % (expiry / previous) if previous else math.inf
            # A window set this very millisecond has a whole expiry to go, not none.
            current_reset = (current_ttl % expiry or expiry) if current else math.inf
            reset = min(previous_reset, current_reset)
        return cls(allowed, item.amount, remaining, max(0, math.ceil(reset)))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_seconds)


class Rule:
    """One rate limit: the `limits` item, its window keys' shape, and the script's words
    for it (made once; every request names its identity only)."""

    def __init__(self, text: str) -> None:
        self.item: RateLimitItem = parse(text)
        head, _, tail = self.item.key_for("\0").partition("\0")
        self._head, self._tail = f"{PREFIX}:{{{head}", f"{tail}}}"
        self.spec = f"{self.item.amount} {self.item.get_expiry()}"

    def keys(self, identity: str) -> tuple[str, str]:
        """The previous and the current window's keys, as the library names them."""
        current = f"{self._head}{identity}{self._tail}"
        return f"{current}/-1", current


@dataclass(frozen=True, slots=True)
class Limit:
    rule: Rule
    identity: str


@dataclass(frozen=True, slots=True)
class CacheRead:
    """The entry a cached read asks for: its name (servicekit.cachekeys), and the field when
    the entry is a hash."""

    name: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict the RateLimit headers describe (the first refusal, as the first refusal
    stops the rest; else the last limit's), and the cached answer when every limit allowed
    the request and one was asked for, with the cache generation it was read in and the
    entry's version (None when Redis did not answer: nothing is to be stored)."""

    shown: Verdict | None
    cached: bytes | None = None
    generation: str | None = None
    version: str | None = None

    @property
    def seen(self) -> Seen | None:
        """What a put of the answer must match; None when the read did not happen."""
        if self.generation is None or self.version is None:
            return None
        return Seen(self.generation, self.version)


class Admitter:
    def __init__(
        self,
        redis: aioredis.Redis,
        ip: str,
        user: str,
        auth: str,
        breaker: pybreaker.CircuitBreaker,
        timeout: float,
        debt: Debt,
    ) -> None:
        self.script = redis.register_script(SCRIPT)
        self.timeout = timeout
        self.debt = debt
        self.local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.breaker = breaker
        self.ip, self.user, self.auth = Rule(ip), Rule(user), Rule(auth)

    async def admit(self, limits: list[Limit], cache: CacheRead | None = None) -> Admission:
        try:
            with self.breaker.calling():
                async with asyncio.timeout(self.timeout):
                    return await self._shared(limits, cache)
        except (pybreaker.CircuitBreakerError, RedisError, OSError, TimeoutError) as exc:
            if connection_lost(exc):
                self.debt.owe()
            return Admission(await self._local(limits))

    async def _shared(self, limits: list[Limit], cache: CacheRead | None) -> Admission:
        keys: list[str] = []
        for limit in limits:
            keys += limit.rule.keys(limit.identity)
        spec = " ".join(limit.rule.spec for limit in limits)
        args = [spec]
        owed = 0
        if cache is not None:
            # Owed: this reply settles the failures counted before it was sent, no later one.
            owed = self.debt.owed
            keys += [GENERATION, cache.name]
            args += [cache.field or "", "1" if owed else ""]
        reply: list[Any] = await self.script(keys=keys, args=args)
        if owed:
            self.debt.settle(owed)
        *windows, cached, generation, version = reply
        return Admission(_shown(limits, windows), cached or None, _text(generation), _text(version))

    async def _local(self, limits: list[Limit]) -> Verdict | None:
        verdict = None
        for limit in limits:
            item = limit.rule.item
            allowed = await self.local.hit(item, limit.identity)
            stats = await self.local.get_window_stats(item, limit.identity)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            verdict = Verdict(allowed, item.amount, max(0, stats.remaining), reset)
            if not allowed:
                break
        return verdict


def _shown(limits: list[Limit], windows: list[list[int]]) -> Verdict | None:
    """The verdict of the first window the script refused (it counts no further), else of
    the last: the one whose figures the headers show, worked out alone."""
    at = next((n for n, window in enumerate(windows) if not window[0]), len(windows) - 1)
    if at < 0:
        return None
    allowed, previous, previous_ttl, current, current_ttl = windows[at]
    return Verdict.from_window(
        limits[at].rule.item,
        bool(allowed),
        int(previous),
        max(0, int(previous_ttl)) / 1000,
        int(current),
        max(0, int(current_ttl)) / 1000,
    )


def _text(value: bytes | str | None) -> str | None:
    """A string the script returned; None for its false (Redis nil)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value
