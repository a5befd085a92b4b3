"""A consumer in a Redis Streams consumer group, as every consumer of fitmesh's streams
works: the group is made from the start of its streams (entries written before it existed
count too); each step takes first the entries a crashed consumer left pending too long
(claimed after an idle time), else new ones, in one round trip; an entry is acknowledged
only once its effect is stored; a poison entry goes to the stream's dead letters (kept for
a human) instead of being retried forever; and a failed step is logged and retried, its
entries still pending. Subclasses say what a step does with its entries."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from servicekit.background import Background

log = structlog.get_logger("events")
Entry = tuple[str, str, dict[str, str]]  # stream, entry id, fields
DEAD_LETTERS_KEPT = 10_000


def dead_letters(stream: str) -> str:
    return f"{stream}.dead"


def consumer_name(configured: str) -> str:
    """The configured name, or one unique to this process."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class StreamConsumer:
    def __init__(
        self,
        redis: aioredis.Redis,
        streams: Sequence[str],
        group: str,
        consumer: str,
        claim_idle_ms: int,
        block_ms: int,
        batch: int,
    ) -> None:
        """`redis` decodes responses (entries are string maps)."""
        self.redis, self.streams, self.group = redis, tuple(streams), group
        self.consumer = consumer
        self.claim_idle_ms, self.block_ms, self.batch = claim_idle_ms, block_ms, batch
        self._loop = Background(self._run)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def step(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self._create_group()
                    group_ready = True
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep consuming whatever one batch did; the entry stays pending
                log.exception("consumer_step_failed", group=self.group)
                # A Redis that restarted without its data has lost the group too (every
                # read is NOGROUP): make sure of it again before the next step.
                group_ready = False
                await asyncio.sleep(1)

    async def _create_group(self) -> None:
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, "0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def entries(self) -> list[Entry]:
        """The entries of this step: those claimed from a consumer that left them pending too
        long, else new ones (waiting up to the block time for some)."""
        return await self._claimed() or await self._read_new()

    async def _claimed(self) -> list[Entry]:
        """Entries a consumer left pending too long, of every stream, in one round trip."""
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

    async def dead_letter(
        self, stream: str, entry_id: str, fields: dict[str, str], error: str
    ) -> None:
        """Keep a poison entry for a human, and take it out of the group's pending list."""
        log.warning("event_malformed", stream=stream, entry_id=entry_id, error=error)
        dead: dict[Any, Any] = {**fields, "error": error}
        await self.redis.xadd(dead_letters(stream), dead, maxlen=DEAD_LETTERS_KEPT)
        await self.redis.xack(stream, self.group, entry_id)
