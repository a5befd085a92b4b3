"""Revoked sessions, as the user service tells them and every gateway hears them.

Access tokens are verified without a call (gateway.auth), so a revoked session's tokens
would live on until they expire. The user service therefore announces each revocation:
the session id goes into the sorted set `REVOKED_KEY`, scored by when its last access token
expires, and onto the pub/sub channel `REVOKED_CHANNEL`. A gateway keeps the set in memory,
loaded whole when it (re)subscribes and kept by the channel, so checking a token costs no
round trip and a gateway that was away misses nothing that still matters."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import cast

import redis.asyncio as aioredis

REVOKED_KEY = "fitmesh:revoked-sessions"
REVOKED_CHANNEL = "fitmesh.sessions.revoked"


async def announce(redis: aioredis.Redis, revoked: Iterable[tuple[str, float]]) -> None:
    """Tell the gateways that these sessions (id, until when their tokens live) are revoked;
    entries whose tokens have all expired are dropped on the way."""
    pipe = redis.pipeline(transaction=False)
    for session_id, until in revoked:
        pipe.zadd(REVOKED_KEY, {session_id: until})
        pipe.publish(REVOKED_CHANNEL, f"{session_id} {until}")
    pipe.zremrangebyscore(REVOKED_KEY, "-inf", time.time())
    await pipe.execute()


class RevokedSessions:
    """A gateway's copy of the revoked sessions whose tokens may still be presented."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def __contains__(self, session_id: object) -> bool:
        until = self._until.get(session_id) if isinstance(session_id, str) else None
        if until is None:
            return False
        if until <= time.time():
            del self._until[session_id]  # type: ignore[arg-type]
            return False
        return True

    def heard(self, message: str) -> str:
        """Take one announcement from the channel; the session id it names."""
        session_id, _, until = message.partition(" ")
        self._until[session_id] = float(until)
        return session_id

    async def load(self, redis: aioredis.Redis) -> None:
        """Take the whole set: called after subscribing, so nothing falls in between."""
        now = time.time()
        entries = await redis.zrangebyscore(REVOKED_KEY, now, "+inf", withscores=True)
        for session_id, until in cast(list[tuple[str | bytes, float]], entries):
            name = session_id.decode() if isinstance(session_id, bytes) else session_id
            self._until[name] = float(until)
        for session_id in [s for s, until in self._until.items() if until <= now]:
            del self._until[session_id]
