"""The shared Redis cache (cache-aside) of whole answers: an entry is the JSON body as it
goes on the wire, so a hit is sent as it is. Reads happen in the admission round trip
(gateway.admission); this module writes and forgets. Redis is an optimisation here: when
it is slow or down, reads go to the backends and writes skip it, behind the breaker the
request path shares, so a dead Redis costs nothing per request.

A forget that does not reach Redis would leave the entry to be read after Redis is back,
for as long as it lives. So the cache moves to a new generation (servicekit.cachekeys),
which makes every entry written before unreachable:

- on a Redis that restarted: each replica's first new connection to it does that before
  serving any command (`Restarts`), so no replica reads an entry from before the outage;
- when a forget failed without a restart (Redis cut off, or too slow): the replica owes a
  new generation (`Debt`). Its next cached read moves the generation on before it reads,
  and a background loop does as soon as Redis answers, request or not. A replica that lost
  its connection or whose breaker opened owes one too: Redis was away for it, so another
  replica's forget may have failed meanwhile, and that one's bump may come after this
  one's next read.

A put that fails, or a read, leaves nothing stale: nothing is owed for it alone."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import hiredis
import pybreaker
import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from gateway.breakers import make_breaker
from servicekit.cachekeys import (
    BUMP_LUA,
    GENERATION,
    PUT_LUA,
    Generations,
    entry_key,
    version_key,
)

T = TypeVar("T")
log = structlog.get_logger("cache")
LOOKUPS = Counter("gateway_cache_requests_total", "Cache lookups.", ["kind", "result"])


@functools.cache
def looked_up(kind: str, hit: bool) -> Any:
    """The lookups' counter of a kind and result, found once (a few kinds), not per read."""
    return LOOKUPS.labels(kind, "hit" if hit else "miss")


BUMPS = Counter(
    "gateway_cache_generation_bumps_total",
    "Cache generations moved on: owed (a failed forget, Redis away) or Redis restarted.",
    ["reason"],
)
# How often the background loop tries Redis while a generation is owed.
PAY_INTERVAL = 0.1
RUN_ID = re.compile(rb"run_id:(\w+)")


def redis_fault(exc: BaseException) -> bool:
    return isinstance(exc, RedisError | OSError | TimeoutError)


def connection_lost(exc: BaseException) -> bool:
    """Redis was not there: refused, reset, or closed (a restart closes every connection)."""
    return isinstance(exc, RedisConnectionError | ConnectionError)


def redis_breaker(failures: int, window: float, cooldown: float) -> pybreaker.CircuitBreaker:
    return make_breaker("redis", failures, window, cooldown, redis_fault)


@dataclass(frozen=True, slots=True)
class Seen:
    """What a cached read found of its entry: the cache generation, and the entry's version
    ('' when it was never forgotten)."""

    generation: str
    version: str


class Debt:
    """Whether this replica owes the cache a new generation. Failures are counted, and a
    bump settles those counted before it was sent: one that fails meanwhile stays owed."""

    def __init__(self) -> None:
        self._failures = 0
        self._settled = 0
        self._due = asyncio.Event()

    def owe(self) -> None:
        if not self.owed:
            log.warning("cache_generation_owed")
        self._failures += 1
        self._due.set()

    @property
    def owed(self) -> int:
        """The failure count a bump sent now would settle; 0 when nothing is owed."""
        return self._failures if self._failures > self._settled else 0

    def settle(self, owed: int) -> None:
        if owed > self._settled:
            self._settled = owed
            BUMPS.labels("owed").inc()
            log.info("cache_generation_moved", reason="owed")
        if not self.owed:
            self._due.clear()

    async def due(self) -> None:
        await self._due.wait()


class PackedConnection(Connection):
    """The request path's connection: commands packed by hiredis, in C, not argument by
    argument in Python as the asyncio connection does (the admission script sends a dozen
    arguments on every request). The arguments are str, bytes and numbers, which hiredis
    packs as redis-py would."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": one word each
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]


class Restarts:
    """Moves the cache to a new generation when Redis comes back as a new process: a restart
    (whatever it kept of its data) closes every connection, so the replica reconnects, and
    the first new connection that meets another server run id bumps before it serves any
    command. Once per connection (new connections are rare), not per request."""

    def __init__(self) -> None:
        self.run_id: bytes | None = None

    async def on_connect(self, conn: AbstractConnection) -> None:
        """redis-py's connect hook: its own handshake, then the server's run id."""
        await conn.on_connect()
        try:
            await conn.send_command("INFO", "server")
            info = await conn.read_response()
        except ResponseError:  # a Redis that keeps INFO to itself: restarts go unseen
            return
        found = RUN_ID.search(info if isinstance(info, bytes) else str(info).encode())
        if found is None:
            return
        run_id = found.group(1)
        if self.run_id is not None and run_id != self.run_id:
            await conn.send_command("EVAL", BUMP_LUA, 1, GENERATION)
            await conn.read_response()
            BUMPS.labels("restart").inc()
            log.warning("cache_generation_moved", reason="restart")
        self.run_id = run_id


class _OweWhenOpen(pybreaker.CircuitBreakerListener):
    def __init__(self, debt: Debt) -> None:
        self.debt = debt

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.debt.owe()


class Cache:
    def __init__(
        self, redis: aioredis.Redis, breaker: pybreaker.CircuitBreaker, timeout: float
    ) -> None:
        self.redis = redis
        self.breaker = breaker
        self.timeout = timeout
        self.generations = Generations(redis)
        self._put = redis.register_script(PUT_LUA)
        self.debt = Debt()
        breaker.add_listener(_OweWhenOpen(self.debt))

    async def guarded(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        """Run a Redis operation, within the timeout; on any Redis trouble, the default."""
        try:
            with self.breaker.calling():
                async with asyncio.timeout(self.timeout):
                    return await op()
        except (pybreaker.CircuitBreakerError, RedisError, OSError, TimeoutError) as exc:
            if connection_lost(exc):
                self.debt.owe()
            return default

    async def put(
        self, name: str, seen: Seen, body: bytes, ttl: int, field: str | None = None
    ) -> None:
        """Store an entry in the generation its read found (a bump since makes it unreachable,
        as it should: the answer was loaded before), unless the entry was forgotten since
        that read (its version moved on: the answer may be older than the change)."""

        async def write() -> None:
            keys = [entry_key(name, seen.generation), version_key(name)]
            await self._put(keys=keys, args=[seen.version, body, ttl, field or ""])

        await self.guarded(write, None)

    async def forget(self, *names: str) -> None:
        """Forget entries (of the current generation, in one round trip); when that fails,
        owe a new generation."""

        async def forget() -> bool:
            await self.generations.forget(*names)
            return True

        if not await self.guarded(forget, False):
            self.debt.owe()

    async def erase(self, *names: str) -> None:
        """Forget the entries of an account that is gone (`Generations.erase`); when that
        fails, owe a new generation."""

        async def erase() -> bool:
            await self.generations.erase(*names)
            return True

        if not await self.guarded(erase, False):
            self.debt.owe()

    async def delete(self, *keys: str) -> None:
        """Delete plain keys (not cache entries), if Redis answers."""

        async def delete() -> None:
            await self.redis.delete(*keys)

        await self.guarded(delete, None)

    async def pay_debts(self) -> None:
        """Move the generation on as soon as Redis answers whenever one is owed, so an idle
        replica's debt does not wait for its next cached read. Outside the breaker: this is
        no request's time, and an open breaker would hold the debt for its whole cool-down."""
        while True:
            await self.debt.due()
            owed = self.debt.owed
            if not owed:
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    await self.generations.bump()
            except (RedisError, OSError, TimeoutError):
                await asyncio.sleep(PAY_INTERVAL)
                continue
            self.debt.settle(owed)
