"""Single-use WebSocket tickets. A browser cannot set headers on a WebSocket, and a token in
a URL ends up in logs; so a client trades its bearer token for a random ticket that is good
for one connection within 30 seconds. Redis holds only the ticket's hash, so a read of
Redis redeems nothing."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.errors import unavailable

PREFIX = "fitmesh:ws-ticket:"


@dataclass(frozen=True, slots=True)
class Holder:
    """Whom a ticket was issued to, and when their token expires."""

    user_id: str
    expires_at: float


def _key(ticket: str) -> str:
    return PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


class Tickets:
    def __init__(self, redis: aioredis.Redis, ttl: int) -> None:
        self.redis, self.ttl = redis, ttl

    async def issue(self, holder: Holder) -> str:
        ticket = secrets.token_urlsafe(32)
        try:
            await self.redis.set(_key(ticket), f"{holder.expires_at} {holder.user_id}", ex=self.ttl)
        except (RedisError, OSError) as exc:
            # Live sessions live in Redis: without it there is nothing to connect to.
            raise unavailable("redis", 1) from exc
        return ticket

    async def redeem(self, ticket: str) -> Holder | None:
        """The ticket's holder, once: a second redemption finds nothing."""
        if not 0 < len(ticket) <= 128:
            return None
        raw = await self.redis.getdel(_key(ticket))
        if raw is None:
            return None
        expires_at, _, user_id = (raw.decode() if isinstance(raw, bytes) else raw).partition(" ")
        return Holder(user_id, float(expires_at))
