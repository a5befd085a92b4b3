"""Forgets cached workout lists, statistics, goals and insights when a workout completes,
changes or goes anywhere (workouts scored late, ended by another replica, imported). Every
gateway replica is a consumer of one group, so each event is handled once for the shared
cache. A forget goes through the replica's cache: when it fails, the replica owes a new
cache generation (gateway.cache), so the event is acknowledged all the same and nothing
stale outlives Redis's return."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from gateway.cache import Cache
from servicekit.background import Background
from servicekit.cachekeys import goals_key, insights_key, statistics_key, workouts_key
from servicekit.events import WORKOUTS_STREAM

log = structlog.get_logger("invalidation")
GROUP = "gateway-cache"


class CacheInvalidator:
    def __init__(self, redis: aioredis.Redis, cache: Cache) -> None:
        self.redis = redis
        self.cache = cache
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._loop = Background(self._run)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self._ensure_group()
                while True:
                    await self.step()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("invalidation_paused", error=str(exc))
                await asyncio.sleep(1)

    async def _ensure_group(self) -> None:
        try:
            # "$": only what happens from now on; older events found the cache rebuilt.
            await self.redis.xgroup_create(WORKOUTS_STREAM, GROUP, "$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def step(self) -> None:
        _, claimed, *_ = await self.redis.xautoclaim(
            WORKOUTS_STREAM, GROUP, self.consumer, min_idle_time=30_000, count=100
        )
        entries: Any = claimed
        if not entries:
            reply: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {WORKOUTS_STREAM: ">"}, count=100, block=1000
            )
            entries = reply[0][1] if reply else []
        if not entries:
            return
        users = {fields.get("user_id") for _, fields in entries if fields}
        kinds = (workouts_key, statistics_key, goals_key, insights_key)
        keys = [kind(u) for u in users if u for kind in kinds]
        if keys:
            await self.cache.forget(*keys)
        await self.redis.xack(WORKOUTS_STREAM, GROUP, *[entry_id for entry_id, _ in entries])
