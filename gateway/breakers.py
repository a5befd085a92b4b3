"""One pybreaker circuit breaker per backend. pybreaker counts consecutive failures; a
storage that keeps failure times adds the window: only failures within it count."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

import pybreaker
import structlog
from prometheus_client import Gauge

log = structlog.get_logger("breaker")

STATE = Gauge("gateway_breaker_state", "Circuit state: 0 closed, 1 half-open, 2 open.", ["backend"])
STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class WindowedStorage(pybreaker.CircuitMemoryStorage):
    """Counts the failures of the last `window` seconds instead of a running total."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self.window = window
        self.clock = clock
        self._failures: deque[float] = deque()

    def _prune(self) -> None:
        horizon = self.clock() - self.window
        while self._failures and self._failures[0] < horizon:
            self._failures.popleft()

    def increment_counter(self) -> None:
        self._failures.append(self.clock())
        self._prune()

    def reset_counter(self) -> None:
        self._failures.clear()

    @property
    def counter(self) -> int:
        self._prune()
        return len(self._failures)


class Observer(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        STATE.labels(cb.name).set(STATE_VALUES.get(new_state.name, 0))
        log.warning(
            "breaker_state", backend=cb.name, old=old_state and old_state.name, new=new_state.name
        )

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        log.warning(
            "backend_failure", backend=cb.name, error=type(exc).__name__, failures=cb.fail_counter
        )


def make_breaker(
    name: str,
    failures: int,
    window: float,
    cooldown: float,
    is_fault: Callable[[BaseException], bool],
) -> pybreaker.CircuitBreaker:
    breaker = pybreaker.CircuitBreaker(
        fail_max=failures,
        reset_timeout=cooldown,
        # What is not a backend fault (a client error) does not count against it.
        exclude=[lambda exc: not is_fault(exc)],
        listeners=[Observer()],
        state_storage=WindowedStorage(window),
        name=name,
    )
    STATE.labels(name).set(0)
    return breaker


def retry_after(breaker: pybreaker.CircuitBreaker) -> int:
    """Whole seconds until the breaker lets a trial call through."""
    opened = breaker._state_storage.opened_at
    if opened is None:
        return 1
    now = datetime.now(opened.tzinfo)
    remaining = breaker.reset_timeout - (now - opened).total_seconds()
    return max(1, int(remaining + 0.999))
