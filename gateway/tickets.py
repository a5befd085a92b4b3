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
    """Whom a ticket was issued to, in which sign-in session, and when their token expires."""

    user_id: str
    expires_at: float
    session_id: str


def _key(ticket: str) -> str:
    return PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


class Tickets:
    def __init__(self, redis: aioredis.Redis, ttl: int) -> None:
        self.redis, self.ttl = redis, ttl

    async def issue(self, holder: Holder) -> str:
        ticket = secrets.token_urlsafe(32)
        try:
            value = f"{holder.expires_at} {holder.user_id} {holder.session_id}"
            await self.redis.set(_key(ticket), value, ex=self.ttl)
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
        expires_at, user_id, session_id = (raw.decode() if isinstance(raw, bytes) else raw).split()
        return Holder(user_id, float(expires_at), session_id)
