"""An account taken out whole (export) or erased.

An export streams rows as PostgreSQL sends them (psycopg's `stream`), so its memory does
not grow with the account. Erasure is the user service's two steps around the erasure of
the user's data in the activity process (the gateway runs all three, and a repeat after a
failure is safe at every step):

- `begin`: the password is checked again and every other session is signed out, so no
  other device adds data while it is being erased; and the user is taken out of the live
  group sessions of others (again in `finish`), so that an archive made when one of those
  ends holds nothing of them;
- `finish`: the last session is signed out and that is told to the gateways (or the
  erasure stops, to be repeated: a deleted account's live token must not outlast it); the
  user's traces in Redis are removed (cached answers, idempotency records, events still in
  the streams, live session state they owned or took part in); and the account row goes,
  with its goals, alerts and sessions by cascade, the versions of its workouts the goals
  followed, and its audit log (user_service.audit_store.erase)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import redis.asyncio as aioredis
import structlog

from servicekit import cachekeys, groupkeys
from servicekit.errors import NotFound, PermissionDenied, Unavailable
from servicekit.events import GOALS_STREAM, HEALTH_STREAM, WORKOUTS_STREAM
from user_service import audit_store
from user_service.security import Cipher, Passwords
from user_service.sessions import Sessions, revoke_all
from user_service.store import Store

log = structlog.get_logger("account")
SCAN_BATCH = 500
EXPORTED = (
    # kind, query; every column but secrets (the password hash, refresh token hashes).
    (
        "profile",
        "SELECT user_id, username, email, display_name, weight_kg, height_cm, birth_date_enc, "
        "sex, resting_heart_rate, max_heart_rate, created_at, updated_at FROM users "
        "WHERE user_id = %s",
    ),
    ("goal", "SELECT * FROM goals WHERE user_id = %s ORDER BY created_at"),
    (
        "audit",
        "SELECT seq, record_id, at, actor_id, action, resource, result, request_id, "
        "encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash FROM audit_log "
        "WHERE user_id = %s ORDER BY seq",
    ),
    (
        "notification",
        "SELECT notification_id, kind, goal_id, payload, created_at FROM notifications "
        "WHERE user_id = %s ORDER BY created_at",
    ),
    (
        "session",
        "SELECT session_id, user_agent, created_at, last_used_at, expires_at, revoked_at, "
        "revoked_why FROM sessions WHERE user_id = %s ORDER BY created_at",
    ),
    (
        "webhook",
        "SELECT webhook_id, url, events, status, created_at FROM webhooks "
        "WHERE user_id = %s ORDER BY created_at",
    ),
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class Account:
    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        redis: aioredis.Redis,
        passwords: Passwords,
        cipher: Cipher,
    ) -> None:
        self.store, self.sessions, self.redis = store, sessions, redis
        self.passwords, self.cipher = passwords, cipher

    async def export(self, user_id: uuid.UUID) -> AsyncIterator[tuple[str, str]]:
        async with self.store.transaction() as conn:
            for kind, query in EXPORTED:
                async for row in conn.cursor().stream(query, (user_id,)):
                    if kind == "profile":
                        encrypted = row.pop("birth_date_enc")
                        row["birth_date"] = encrypted and self.cipher.decrypt(bytes(encrypted))
                    yield kind, json.dumps(row, default=_plain, separators=(",", ":"))

    async def begin(self, user_id: uuid.UUID, password: str, keep: uuid.UUID | None) -> None:
        stored = await self.store.password_hash(user_id)
        if stored is None:
            raise NotFound("no such user")
        if not await self.passwords.verify(stored, password):
            raise PermissionDenied("the password is not right")
        async with self.store.transaction() as conn:
            await revoke_all(conn, user_id, keep, "erased")
        await self.sessions.announce()
        await self._scrub_groups(str(user_id))

    async def finish(self, user_id: uuid.UUID, request_id: str) -> None:
        async with self.store.transaction() as conn:
            cur = await conn.execute("SELECT 1 FROM users WHERE user_id = %s", (user_id,))
            if await cur.fetchone() is None:
                raise NotFound("no such user")
            await revoke_all(conn, user_id, None, "erased")
        if not await self.sessions.announce():
            raise Unavailable("could not sign the account's sessions out; try again")
        await self._scrub_redis(str(user_id))
        async with self.store.transaction() as conn:
            # Its audit log goes too, leaving one record that names no one.
            await audit_store.erase(conn, user_id, request_id, dt.datetime.now(dt.UTC))
            # The account before its workout versions: it waits for an event being applied
            # to it, whose version the next statement then sees.
            await conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
            await conn.execute("DELETE FROM workout_versions WHERE user_id = %s", (user_id,))
        log.info("account_erased")  # no id: the log keeps nothing of who it was

    async def _scrub_redis(self, user_id: str) -> None:
        await cachekeys.Generations(self.redis).erase(*cachekeys.of_user(user_id))
        async for key in self.redis.scan_iter(f"fitmesh:idempotency:*{user_id}*", SCAN_BATCH):
            await self.redis.delete(key)
        for stream in (WORKOUTS_STREAM, HEALTH_STREAM, GOALS_STREAM):
            await self._drop_entries(stream, lambda fields: fields.get("user_id") == user_id)
        await self._scrub_groups(user_id)

    async def _scrub_groups(self, user_id: str) -> None:
        """Live group sessions (gateway/groups.py): those the user owned go whole; in the
        others, their sockets' count, their membership and their updates go; and the set of
        the live sessions they took part in (`servicekit.groupkeys`)."""
        await self.redis.delete(groupkeys.taking_part(user_id))
        pattern = f"{groupkeys.SESSION_PREFIX}*"
        async for key in self.redis.scan_iter(pattern, SCAN_BATCH, _type="hash"):
            if await self.redis.hget(key, "owner_id") == user_id:
                await self.redis.delete(key, f"{key}:conns", f"{key}:everyone", f"{key}:log")
            elif key.count(":") == 2:  # a session's own hash, not its `:conns`
                await self.redis.hdel(f"{key}:conns", user_id)
                await self.redis.srem(f"{key}:everyone", user_id)
                await self._drop_entries(f"{key}:log", lambda fields: _frame_of(fields, user_id))

    async def _drop_entries(self, stream: str, picks: Callable[[dict[str, str]], bool]) -> None:
        """Delete the entries `picks` chooses from a stream (bounded by its length limit)."""
        start = "-"
        while True:
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self.redis.xrange(stream, start, "+", count=SCAN_BATCH),
            )
            picked = [entry_id for entry_id, fields in entries if picks(fields)]
            if picked:
                await self.redis.xdel(stream, *picked)
            if len(entries) < SCAN_BATCH:
                return
            start = "(" + entries[-1][0]


def _frame_of(fields: dict[str, str], user_id: str) -> bool:
    """Whether a live session's log entry is the user's (a frame of theirs, `data.user_id`)."""
    frame = json.loads(fields.get("frame", "{}"))
    return bool(frame.get("data", {}).get("user_id") == user_id)
