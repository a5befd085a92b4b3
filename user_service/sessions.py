"""Sign-in sessions: a login starts one, its refresh tokens rotate, and it ends by logout,
by reuse of a spent refresh token, by a password change, or by expiring unrefreshed.

Refresh tokens are random and stored only as SHA-256 hashes. Exchanging one locks its
session row, so of two racing exchanges of one token exactly one wins and the other is
reuse: the session is revoked, as OAuth 2.0 Security BCP (RFC 9700, 4.14.2) asks.

Revocations are kept in PostgreSQL first and then announced to the gateways
(servicekit.revocations); a revocation whose announcement failed is retried by the loop
here (`announced_at` is its outbox), so Redis being away delays it, never loses it."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from servicekit import revocations
from servicekit.background import Background
from servicekit.errors import NotFound, Unauthenticated
from user_service.store import Conn, Row, Store

log = structlog.get_logger("sessions")
USER_AGENT_CHARS = 200
LISTED = 100
ANNOUNCE_EVERY_SECONDS = 5.0
# Ended sessions are kept this long (the session list and audits may ask), then dropped.
KEEP_ENDED = dt.timedelta(days=30)
INVALID = "the refresh token is not valid; sign in again"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Issued:
    """A session and the one refresh token it answers to now."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    refresh_token: str


class Sessions:
    def __init__(
        self, store: Store, redis: aioredis.Redis, refresh_ttl: dt.timedelta, access_ttl: int
    ) -> None:
        self.store, self.redis = store, redis
        self.refresh_ttl = refresh_ttl
        self.access_ttl = dt.timedelta(seconds=access_ttl)
        self._loop = Background(self._announce_forever)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def begin(self, user_id: uuid.UUID, user_agent: str) -> Issued:
        session_id = uuid.uuid4()
        async with self.store.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions (session_id, user_id, user_agent, expires_at) "
                "VALUES (%s, %s, %s, now() + %s)",
                (session_id, user_id, user_agent[:USER_AGENT_CHARS], self.refresh_ttl),
            )
            token = await _new_token(conn, session_id)
        return Issued(session_id, user_id, token)

    async def rotate(self, refresh_token: str) -> Issued:
        """The session's next refresh token, for the one it answers to now; a spent one
        revokes the session. UNAUTHENTICATED for anything but a live, unspent token."""
        reused: Row | None = None
        async with self.store.transaction() as conn:
            row = await _token_for_update(conn, refresh_token)
            if row is None or row["revoked_at"] is not None or row["expired"]:
                raise Unauthenticated(INVALID)
            if row["used_at"] is not None:
                reused = row
                await _revoke(conn, row["session_id"], "reuse")
            else:
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = %s",
                    (_hash(refresh_token),),
                )
                await conn.execute(
                    "UPDATE sessions SET last_used_at = now(), expires_at = now() + %s "
                    "WHERE session_id = %s",
                    (self.refresh_ttl, row["session_id"]),
                )
                token = await _new_token(conn, row["session_id"])
        if reused is not None:  # committed first: the revocation stands although we refuse
            log.warning(
                "refresh_token_reused",
                session_id=str(reused["session_id"]),
                user_id=str(reused["user_id"]),
            )
            await self.announce()
            raise Unauthenticated(INVALID)
        return Issued(row["session_id"], row["user_id"], token)

    async def logout(self, refresh_token: str) -> None:
        async with self.store.transaction() as conn:
            row = await _token_for_update(conn, refresh_token)
            if row is None or row["revoked_at"] is not None:
                return  # as RFC 7009 answers: nothing to tell a caller who holds nothing
            await _revoke(conn, row["session_id"], "logout")
        await self.announce()

    async def revoke(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_why = 'signed_out' "
                "WHERE session_id = %s AND user_id = %s AND revoked_at IS NULL",
                (session_id, user_id),
            )
            if cur.rowcount == 0:
                raise NotFound("no such session")
        await self.announce()

    async def live(self, user_id: uuid.UUID) -> list[Row]:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "SELECT session_id, user_agent, created_at, last_used_at, expires_at "
                "FROM sessions WHERE user_id = %s AND revoked_at IS NULL AND expires_at > now() "
                "ORDER BY created_at DESC LIMIT %s",
                (user_id, LISTED),
            )
            return await cur.fetchall()

    async def announce(self) -> bool:
        """Tell the gateways of every revocation not told yet; False when Redis could not
        be told, which the loop retries. Revocations whose tokens have all expired need no
        telling."""
        try:
            async with self.store.transaction() as conn:
                cur = await conn.execute(
                    "SELECT session_id, revoked_at + %s AS until FROM sessions "
                    "WHERE revoked_at IS NOT NULL AND announced_at IS NULL "
                    "ORDER BY revoked_at LIMIT 500 FOR UPDATE SKIP LOCKED",
                    (self.access_ttl,),
                )
                rows = await cur.fetchall()
                now = dt.datetime.now(dt.UTC)
                live = [r for r in rows if r["until"] > now]
                await revocations.announce(
                    self.redis, [(str(r["session_id"]), r["until"].timestamp()) for r in live]
                )
                await conn.execute(
                    "UPDATE sessions SET announced_at = now() WHERE session_id = ANY(%s)",
                    ([r["session_id"] for r in rows],),
                )
        except (RedisError, OSError) as exc:
            log.warning("revocation_announce_failed", error=str(exc))
            return False
        return True

    async def _announce_forever(self) -> None:
        while True:
            try:
                await self.announce()
                await self._forget_ended()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away; the next round tries again
                log.exception("sessions_upkeep_failed")
            await asyncio.sleep(ANNOUNCE_EVERY_SECONDS)

    async def _forget_ended(self) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "DELETE FROM sessions WHERE announced_at IS NOT NULL AND revoked_at < now() - %s "
                "OR revoked_at IS NULL AND expires_at < now() - %s",
                (KEEP_ENDED, KEEP_ENDED),
            )


async def revoke_all(conn: Conn, user_id: uuid.UUID, keep: uuid.UUID | None, why: str) -> int:
    """Revoke every live session of the account but `keep`, in the caller's transaction;
    the caller announces once it has committed."""
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_why = %s "
        "WHERE user_id = %s AND revoked_at IS NULL AND session_id IS DISTINCT FROM %s",
        (why, user_id, keep),
    )
    return cur.rowcount


async def _new_token(conn: Conn, session_id: uuid.UUID) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES (%s, %s)",
        (_hash(token), session_id),
    )
    return token


async def _token_for_update(conn: Conn, refresh_token: str) -> dict[str, Any] | None:
    """The token's row and its session's, both locked: racing exchanges take turns."""
    if not 0 < len(refresh_token) <= 128:
        return None
    cur = await conn.execute(
        "SELECT t.session_id, t.used_at, s.user_id, s.revoked_at, s.expires_at <= now() AS expired "
        "FROM refresh_tokens t JOIN sessions s USING (session_id) "
        "WHERE t.token_hash = %s FOR UPDATE",
        (_hash(refresh_token),),
    )
    return await cur.fetchone()


async def _revoke(conn: Conn, session_id: uuid.UUID, why: str) -> None:
    await conn.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_why = %s WHERE session_id = %s",
        (why, session_id),
    )
