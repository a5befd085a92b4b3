"""Reading Redis Streams through a consumer group, the way every consumer of the user
service reads them: the group made from the start of each stream (events written before
it existed count too), entries a crashed consumer left pending taken over after an idle
time, then new ones; an entry is acknowledged by its handler once its effect is kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

Entry = tuple[str, str, dict[str, str]]  # stream, entry id, fields


class GroupReader:
    def __init__(
        self,
        redis: aioredis.Redis,
        streams: Sequence[str],
        group: str,
        consumer: str,
        claim_idle_ms: int,
        block_ms: int,
        batch: int = 32,
    ) -> None:
        self.redis, self.streams, self.group, self.consumer = redis, streams, group, consumer
        self.claim_idle_ms, self.block_ms, self.batch = claim_idle_ms, block_ms, batch

    async def create_group(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, "0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def next_batch(self) -> list[Entry]:
        """Entries left pending too long by any consumer, or else new ones (waiting up to
        block_ms for them)."""
        return await self._claimed() or await self._read_new()

    async def _claimed(self) -> list[Entry]:
        pipe = self.redis.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id="0-0",
                count=self.batch,
            )
        replies = await pipe.execute()
        return [
            (s, i, f) for s, (_, e, *_) in zip(self.streams, replies, strict=True) for i, f in e
        ]

    async def _read_new(self) -> list[Entry]:
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=self.batch,
            block=self.block_ms,
        )
        return [(stream, i, f) for stream, entries in reply or [] for i, f in entries]

    async def ack(self, stream: str, entry_id: str) -> None:
        await self.redis.xack(stream, self.group, entry_id)
