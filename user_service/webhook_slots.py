"""A sender's slots per destination: how many attempts to each receiver are in flight in
this replica (at most `per_destination`, so a slow receiver holds only its own share), where
each delivery goes, and how long a receiver's attempts take, which says when a slot is
likely to be free again."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator
from typing import TypeVar

KEPT = 100_000  # deliveries and destinations remembered (least recently used go first)
FIRST_WAIT = 0.5  # seconds a delivery waits for a slot of a receiver not timed yet
SHORTEST_WAIT, LONGEST_WAIT = 0.05, 1.0
SMOOTHING = 0.3  # weight of the newest attempt in a receiver's typical time
K = TypeVar("K")
V = TypeVar("V")


class Slots:
    def __init__(self, per_destination: int) -> None:
        self.per_destination = per_destination
        self.busy: Counter[str] = Counter()
        self._where: OrderedDict[uuid.UUID, str] = OrderedDict()
        self._takes: OrderedDict[str, float] = OrderedDict()

    def destination_of(self, delivery_id: uuid.UUID) -> str | None:
        """Where a delivery goes, if it was loaded here before: a backlog to a slow receiver
        comes round again and again, and need not be read from the database each time."""
        return self._where.get(delivery_id)

    def remember(self, delivery_id: uuid.UUID, destination: str) -> None:
        _keep(self._where, delivery_id, destination)

    def full(self, destination: str) -> bool:
        return self.busy[destination] >= self.per_destination

    @contextlib.contextmanager
    def taken(self, destination: str) -> Iterator[None]:
        self.busy[destination] += 1
        try:
            yield
        finally:
            self.busy[destination] -= 1
            if not self.busy[destination]:
                del self.busy[destination]

    def observe(self, destination: str, seconds: float) -> None:
        """An attempt to the destination took this long."""
        before = self._takes.get(destination)
        typical = seconds if before is None else before + SMOOTHING * (seconds - before)
        _keep(self._takes, destination, typical)

    def wait(self, destination: str) -> float:
        """How long a delivery waits for a slot: about one attempt's time, jittered, so a
        fast receiver's backlog moves on at once and a hanging one's does not spin."""
        typical = self._takes.get(destination, FIRST_WAIT)
        base = min(LONGEST_WAIT, max(SHORTEST_WAIT, typical))
        return base * random.uniform(1, 2)  # noqa: S311


def _keep(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > KEPT:
        cache.popitem(last=False)
