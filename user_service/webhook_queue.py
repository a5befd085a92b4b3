"""The schedule of deliveries in Redis: a sorted set of due delivery ids (score: when due,
in ms) and a sorted set of leased ones (score: when the lease runs out).

A sender takes due ids with a lease, in one script that also puts expired leases back on
the due set: any number of replicas share the work, and what a killed one held is sent by
another once its lease runs out. The lease's expiry is its token: a sender settles a
delivery (drops it, or puts it back due at a time) only while it still holds that lease.
An id is never due while leased, so two senders never hold one delivery at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

DUE = "fitmesh:webhooks:due"
LEASED = "fitmesh:webhooks:leased"
RETURNED_PER_TAKE = 100  # expired leases put back per call: bounded work per script

# KEYS: due, leased. ARGV: now, ids... Due now unless leased or due already.
SCHEDULE = """
local added = 0
for i = 2, #ARGV do
  if not redis.call('zscore', KEYS[2], ARGV[i]) then
    added = added + redis.call('zadd', KEYS[1], 'NX', ARGV[1], ARGV[i])
  end
end
return added
"""
# KEYS: due, leased. ARGV: now, lease expiry, how many, how many expired to return.
# Returns the ids taken.
TAKE = """
local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(expired) do
  redis.call('zrem', KEYS[2], id)
  redis.call('zadd', KEYS[1], ARGV[1], id)
end
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do
  redis.call('zrem', KEYS[1], id)
  redis.call('zadd', KEYS[2], ARGV[2], id)
end
return due
"""
# KEYS: due, leased. ARGV: id, lease expiry, next due time or ''. 1 if the lease was held.
SETTLE = """
local held = redis.call('zscore', KEYS[2], ARGV[1])
if not held or tonumber(held) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('zrem', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('zadd', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Lease:
    delivery_id: uuid.UUID
    expires_ms: int


class Queue:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._schedule = redis.register_script(SCHEDULE)
        self._take = redis.register_script(TAKE)
        self._settle = redis.register_script(SETTLE)
        # Set when this process schedules something due now, so its sender wakes at once.
        self.wake = asyncio.Event()

    async def schedule(self, ids: Sequence[uuid.UUID]) -> None:
        """Due now (a new delivery, a resumed or replayed one, one found unscheduled)."""
        if ids:
            await self._schedule(keys=[DUE, LEASED], args=[now_ms(), *map(str, ids)])
            self.wake.set()

    async def take(self, most: int, lease_seconds: float) -> list[Lease]:
        now = now_ms()
        expires = now + int(lease_seconds * 1000)
        taken = await self._take(keys=[DUE, LEASED], args=[now, expires, most, RETURNED_PER_TAKE])
        return [Lease(uuid.UUID(_text(i)), expires) for i in taken]

    async def settle(self, lease: Lease, due_ms: int | None) -> bool:
        """Done with a leased delivery: dropped (None), or due again at `due_ms`."""
        held = await self._settle(
            keys=[DUE, LEASED],
            args=[str(lease.delivery_id), lease.expires_ms, "" if due_ms is None else due_ms],
        )
        return bool(held)

    async def depth(self) -> tuple[int, float]:
        """How many deliveries wait on the due set, and how long the oldest due one has
        waited past its time (0 when none is late)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(DUE)
        pipe.zrange(DUE, 0, 0, withscores=True)
        count, first = await pipe.execute()
        late = (now_ms() - float(first[0][1])) / 1000 if first else 0.0
        return int(count), max(0.0, late)

    async def next_due_in(self) -> float | None:
        """Seconds until the earliest due delivery (0 if one is due), None when none waits."""
        first = await self.redis.zrange(DUE, 0, 0, withscores=True)
        if not first:
            return None
        return max(0.0, (float(first[0][1]) - now_ms()) / 1000)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
