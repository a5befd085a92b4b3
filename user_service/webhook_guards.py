"""Per destination (a receiver's host:port), shared by every replica through Redis: a rate
limit, and a circuit breaker, so a receiver that is down costs each replica one attempt per
reset time rather than one per delivery, and never holds the others up.

The limit is the `limits` library's moving window on Redis (the library has no token
bucket; a moving window of N per second admits the same sustained rate and a burst of at
most N). The breaker is pybreaker's, with its Redis storage, which takes a synchronous
client. Both are synchronous here: their calls (a few sub-millisecond round trips to the
Redis next door per attempt) are made on the event loop, under a short socket timeout. A
worker thread per call was tried and cost more: under load, deliveries queued for threads
behind other ones, and a healthy receiver's waited for a dead one's. (The library's async
storage would also import every Redis client it supports, a second of start-up.) When a
breaker's reset time has passed, one trial goes out (a Redis key decides which) and the
others wait a little more."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import OrderedDict

import pybreaker
import redis
import structlog
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

log = structlog.get_logger("webhooks")
PREFIX = "fitmesh:webhooks"
BREAKERS_KEPT = 10_000  # destinations whose breaker objects a replica keeps in memory
TRIAL_WAIT = 1.0  # seconds others wait while a trial runs
SYNC_TIMEOUT = 0.25  # seconds a guard's Redis call may hold the event loop


class ReceiverDown(Exception):
    """What a failed attempt is, to the breaker."""


class Observer(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        log.warning(
            "webhook_breaker_state",
            destination=cb.name,
            old=old_state and old_state.name,
            new=new_state.name,
        )


class Guards:
    def __init__(self, redis_url: str, rate: str, failures: int, reset_seconds: float) -> None:
        storage = RedisStorage(
            redis_url,
            key_prefix=f"{PREFIX}:rate",
            socket_timeout=SYNC_TIMEOUT,
            socket_connect_timeout=SYNC_TIMEOUT,
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self.rate = parse(rate)
        self.failures, self.reset_seconds = failures, reset_seconds
        self.sync = redis.Redis.from_url(
            redis_url, socket_timeout=SYNC_TIMEOUT, socket_connect_timeout=SYNC_TIMEOUT
        )
        self._breakers: OrderedDict[str, pybreaker.CircuitBreaker] = OrderedDict()

    def close(self) -> None:
        self.sync.close()

    def wait(self, destination: str) -> tuple[float, str]:
        """Seconds a delivery to `destination` must wait before it may be attempted, and
        why; 0 when it may go now (and then it counts against the rate limit)."""
        held = self._breaker_wait(destination)
        if held > 0:
            return held, "breaker_open"
        if self.limiter.hit(self.rate, destination):
            return 0.0, ""
        stats = self.limiter.get_window_stats(self.rate, destination)
        # Spread what was refused over the next window rather than all at its start.
        spread = random.uniform(0, 0.2)  # noqa: S311
        return max(0.01, stats.reset_time - time.time()) + spread, "rate_limited"

    def _breaker(self, destination: str) -> pybreaker.CircuitBreaker:
        breaker = self._breakers.get(destination)
        if breaker is None:
            storage = pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, self.sync, namespace=f"{PREFIX}:breaker:{destination}"
            )
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.failures,
                reset_timeout=self.reset_seconds,
                state_storage=storage,
                listeners=[Observer()],
                name=destination,
            )
            self._breakers[destination] = breaker
            if len(self._breakers) > BREAKERS_KEPT:
                self._breakers.popitem(last=False)
        self._breakers.move_to_end(destination)
        return breaker

    def _breaker_wait(self, destination: str) -> float:
        breaker = self._breaker(destination)
        if breaker.current_state != pybreaker.STATE_OPEN:
            return 0.0
        opened = breaker._state_storage.opened_at or dt.datetime.now(dt.UTC)
        reset = opened + dt.timedelta(seconds=breaker.reset_timeout)
        remaining = (reset - dt.datetime.now(dt.UTC)).total_seconds()
        if remaining > 0:
            # Not all at the reset time: the trial goes first, the rest spread behind it.
            return remaining + random.uniform(0, TRIAL_WAIT)  # noqa: S311
        trial = f"{PREFIX}:breaker:{destination}:trial"
        if self.sync.set(trial, 1, nx=True, px=int(self.reset_seconds * 1000)):
            return 0.0
        return TRIAL_WAIT + random.uniform(0, TRIAL_WAIT)  # noqa: S311

    def record(self, destination: str, fault: bool) -> None:
        """An attempt's result: a fault counts toward opening; anything else closes."""
        breaker = self._breaker(destination)
        trial = breaker.current_state != pybreaker.STATE_CLOSED
        try:
            with breaker.calling():
                if fault:
                    raise ReceiverDown(destination)
        except (ReceiverDown, pybreaker.CircuitBreakerError):
            pass  # the breaker has counted it (or was opened meanwhile by another attempt)
        if trial:  # the trial has its answer: closed, or open for another reset time
            self.sync.delete(f"{PREFIX}:breaker:{destination}:trial")
