"""PostgreSQL access for webhooks: subscriptions, deliveries and their attempts. Every
query of a user's data names the user, so another's subscription is simply not found."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from servicekit.errors import AlreadyExists, FailedPrecondition, NotFound
from servicekit.pagination import EARLIEST
from user_service.store import Page, Row, Store

WEBHOOK_COLUMNS = "webhook_id, user_id, url, events, status, created_at, kind"
DELIVERY_COLUMNS = (
    "d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.payload, d.status, d.attempts, "
    "d.round_attempts, d.round_started_at, d.next_at, d.last_status, d.last_error, "
    "d.last_latency_ms, d.created_at, d.finished_at"
)
# A delivery's id follows from its event and subscription (the MD5 of both, as a uuid), so
# the database makes it in the same statement that finds the subscriptions.
DELIVERY_ID_SQL = "md5(%(event)s || ':' || w.webhook_id::text)::uuid"


def delivery_id(event_id: str, webhook_id: uuid.UUID) -> uuid.UUID:
    """The id DELIVERY_ID_SQL makes (a name, not a secret: MD5 is fine for it)."""
    return uuid.UUID(hashlib.md5(f"{event_id}:{webhook_id}".encode()).hexdigest())  # noqa: S324


@dataclass(frozen=True)
class Outcome:
    """One attempt, and where it leaves its delivery."""

    at: dt.datetime
    status_code: int | None
    latency_ms: int
    error: str
    status: str  # pending (to retry), delivered, failed, dead
    next_at: dt.datetime | None


class WebhookStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # Subscriptions

    async def create(self, values: dict[str, Any], most: int) -> Row:
        """A new subscription, unless the user has `most` already."""
        try:
            async with self.store.transaction() as conn:
                # The user's row is the lock that keeps two creations from both counting 19.
                cur = await conn.execute(
                    "SELECT 1 FROM users WHERE user_id = %s FOR UPDATE", (values["user_id"],)
                )
                if await cur.fetchone() is None:
                    raise NotFound("no such user")
                cur = await conn.execute(
                    "SELECT count(*) AS n FROM webhooks WHERE user_id = %s "
                    "AND kind = 'subscription'",
                    (values["user_id"],),
                )
                found = await cur.fetchone()
                if found is not None and found["n"] >= most:
                    raise FailedPrecondition(
                        f"an account has at most {most} webhooks; delete one first"
                    )
                cur = await conn.execute(
                    "INSERT INTO webhooks (webhook_id, user_id, url, events, secret_enc, "  # noqa: S608
                    "idempotency_key, request_fingerprint) VALUES (%(webhook_id)s, "
                    "%(user_id)s, %(url)s, %(events)s, %(secret_enc)s, %(idempotency_key)s, "
                    f"%(request_fingerprint)s) RETURNING {WEBHOOK_COLUMNS}, secret_enc",
                    values,
                )
                row = await cur.fetchone()
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "webhooks_user_url":
                raise AlreadyExists("a webhook for this url exists already", "url") from exc
            raise AlreadyExists("a webhook was made with this idempotency key") from exc
        assert row is not None
        return row

    async def create_callback(self, values: dict[str, Any]) -> Row:
        """A one-off webhook: not counted against the user's subscriptions, and any number
        may share a URL (each import has its own)."""
        row = await self._one(
            "INSERT INTO webhooks (webhook_id, user_id, url, events, secret_enc, kind) "  # noqa: S608
            "SELECT %(webhook_id)s, user_id, %(url)s, %(events)s, %(secret_enc)s, 'callback' "
            f"FROM users WHERE user_id = %(user_id)s RETURNING {WEBHOOK_COLUMNS}",
            values,
        )
        if row is None:
            raise NotFound("no such user")
        return row

    async def of_request(self, user_id: uuid.UUID, key: str) -> Row | None:
        """The subscription a creation with this idempotency key made, with its secret and
        the fingerprint of that request."""
        return await self._one(
            f"SELECT {WEBHOOK_COLUMNS}, secret_enc, request_fingerprint FROM webhooks "  # noqa: S608
            "WHERE user_id = %s AND idempotency_key = %s",
            (user_id, key),
        )

    async def of_user(self, user_id: uuid.UUID) -> list[Row]:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE user_id = %s "  # noqa: S608
                "AND kind = 'subscription' ORDER BY created_at DESC, webhook_id DESC",
                (user_id,),
            )
            return await cur.fetchall()

    async def get(self, user_id: uuid.UUID, webhook_id: uuid.UUID) -> Row:
        row = await self._one(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE user_id = %s AND webhook_id = %s",  # noqa: S608
            (user_id, webhook_id),
        )
        if row is None:
            raise NotFound("no such webhook")
        return row

    async def delete(self, user_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM webhooks WHERE user_id = %s AND webhook_id = %s", (user_id, webhook_id)
            )
            if cur.rowcount != 1:
                raise NotFound("no such webhook")

    async def set_status(self, user_id: uuid.UUID, webhook_id: uuid.UUID, status: str) -> Row:
        row = await self._one(
            f"UPDATE webhooks SET status = %s WHERE user_id = %s AND webhook_id = %s "  # noqa: S608
            f"RETURNING {WEBHOOK_COLUMNS}",
            (status, user_id, webhook_id),
        )
        if row is None:
            raise NotFound("no such webhook")
        return row

    # Deliveries: made from events, sent, replayed

    async def add_deliveries(
        self,
        user_id: uuid.UUID,
        event_id: str,
        event_type: str,
        payload: dict[str, Any],
        callback: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        """One delivery per active subscription of the user to this event type, and one to
        the callback the event names (only its own user's, and only for its type). Returns
        the ids still to schedule: new ones, and ones an earlier run made but never sent (it
        died before scheduling them); never one that was attempted already."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO deliveries (delivery_id, webhook_id, event_id, event_type, payload) "  # noqa: S608
                f"SELECT {DELIVERY_ID_SQL}, w.webhook_id, %(event)s, %(type)s, %(payload)s "
                "FROM webhooks w WHERE w.user_id = %(user)s AND w.status = 'active' "
                "AND %(type)s = ANY(w.events) "
                "AND (w.kind = 'subscription' OR w.webhook_id = %(callback)s) "
                "ON CONFLICT (delivery_id) DO UPDATE SET delivery_id = EXCLUDED.delivery_id "
                "WHERE deliveries.status = 'pending' AND deliveries.attempts = 0 "
                "RETURNING delivery_id",
                {
                    "event": event_id,
                    "type": event_type,
                    "payload": Jsonb(payload),
                    "user": user_id,
                    "callback": callback,
                },
            )
            return [r["delivery_id"] for r in await cur.fetchall()]

    async def pending_of(self, webhook_id: uuid.UUID) -> list[uuid.UUID]:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "SELECT delivery_id FROM deliveries WHERE webhook_id = %s AND status = 'pending'",
                (webhook_id,),
            )
            return [r["delivery_id"] for r in await cur.fetchall()]

    async def overdue(
        self, before: dt.datetime, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
    ) -> list[Row]:
        """Pending deliveries of active subscriptions that were due before `before`, in
        due order from after `after` (next_at, delivery_id)."""
        start = after or (EARLIEST, uuid.UUID(int=0))
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "SELECT d.delivery_id, d.next_at FROM deliveries d JOIN webhooks w "
                "USING (webhook_id) WHERE d.status = 'pending' AND d.next_at < %s "
                "AND (d.next_at, d.delivery_id) > (%s, %s) AND w.status = 'active' "
                "ORDER BY d.next_at, d.delivery_id LIMIT %s",
                (before, *start, limit),
            )
            return await cur.fetchall()

    async def load(self, delivery: uuid.UUID) -> Row | None:
        """A delivery with what sending it needs from its subscription."""
        return await self._one(
            f"SELECT {DELIVERY_COLUMNS}, w.url, w.secret_enc, w.status AS webhook_status "  # noqa: S608
            "FROM deliveries d JOIN webhooks w USING (webhook_id) WHERE d.delivery_id = %s",
            (delivery,),
        )

    async def record(self, delivery: uuid.UUID, attempts_before: int, outcome: Outcome) -> bool:
        """Keep an attempt and its delivery's new state; False when another sender
        recorded an attempt since this one was loaded (its record stands)."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, "
                "round_attempts = round_attempts + 1, status = %(status)s, "
                "next_at = coalesce(%(next_at)s, next_at), last_status = %(code)s, "
                "last_error = %(error)s, last_latency_ms = %(ms)s, "
                "finished_at = CASE WHEN %(status)s = 'pending' THEN NULL ELSE %(at)s END "
                "WHERE delivery_id = %(id)s AND attempts = %(before)s AND status = 'pending' "
                "RETURNING attempts",
                {
                    "status": outcome.status,
                    "next_at": outcome.next_at,
                    "code": outcome.status_code,
                    "error": outcome.error or None,
                    "ms": outcome.latency_ms,
                    "at": outcome.at,
                    "id": delivery,
                    "before": attempts_before,
                },
            )
            row = await cur.fetchone()
            if row is None:
                return False
            await conn.execute(
                "INSERT INTO delivery_attempts (delivery_id, n, at, status_code, latency_ms, "
                "error) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    delivery,
                    row["attempts"],
                    outcome.at,
                    outcome.status_code,
                    outcome.latency_ms,
                    outcome.error or None,
                ),
            )
        return True

    async def expire(
        self, delivery: uuid.UUID, attempts_before: int, at: dt.datetime, error: str
    ) -> bool:
        """A pending delivery dead without another attempt, which could not be made in
        time. Its last error stays its last attempt's; `error` says why when it had none."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE deliveries SET status = 'dead', last_error = coalesce(last_error, %s), "
                "finished_at = %s "
                "WHERE delivery_id = %s AND attempts = %s AND status = 'pending'",
                (error, at, delivery, attempts_before),
            )
            return cur.rowcount == 1

    async def replay(
        self,
        user_id: uuid.UUID,
        webhook_id: uuid.UUID,
        one: uuid.UUID | None,
        dead_since: dt.datetime | None,
    ) -> list[uuid.UUID]:
        """Put finished deliveries back to pending, in a new round: one delivery (any
        finished one), or every dead letter since a time. Returns the ids to schedule."""
        webhook = await self.get(user_id, webhook_id)
        if webhook["status"] != "active":
            raise FailedPrecondition("the webhook is paused; resume it first")
        reset = (
            "UPDATE deliveries SET status = 'pending', round_attempts = 0, "
            "round_started_at = now(), next_at = now(), finished_at = NULL "
        )
        async with self.store.transaction() as conn:
            if one is not None:
                cur = await conn.execute(
                    "SELECT status FROM deliveries WHERE webhook_id = %s AND delivery_id = %s "
                    "FOR UPDATE",
                    (webhook_id, one),
                )
                found = await cur.fetchone()
                if found is None:
                    raise NotFound("no such delivery")
                if found["status"] == "pending":
                    raise FailedPrecondition("the delivery is pending already")
                cur = await conn.execute(
                    reset + "WHERE delivery_id = %s RETURNING delivery_id", (one,)
                )
            else:
                cur = await conn.execute(
                    reset + "WHERE webhook_id = %s AND status = 'dead' AND finished_at >= %s "
                    "RETURNING delivery_id",
                    (webhook_id, dead_since),
                )
            rows = await cur.fetchall()
        return [r["delivery_id"] for r in rows]

    async def deliveries(
        self,
        user_id: uuid.UUID,
        webhook_id: uuid.UUID,
        status: str | None,
        limit: int,
        after: tuple[dt.datetime, str] | None,
    ) -> tuple[Page, dict[uuid.UUID, list[Row]]]:
        """A page of the delivery log, newest first, and the attempts of each delivery."""
        await self.get(user_id, webhook_id)
        query = f"SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.webhook_id = %s"  # noqa: S608
        params: list[Any] = [webhook_id]
        if status is not None:
            query += " AND d.status = %s"
            params.append(status)
        if after is not None:
            query += " AND (d.created_at, d.delivery_id) < (%s, %s)"
            params += [after[0], uuid.UUID(after[1])]
        query += " ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT %s"
        params.append(limit + 1)
        async with self.store.transaction() as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
            page = Page(rows[:limit], len(rows) > limit)
            cur = await conn.execute(
                "SELECT delivery_id, n, at, status_code, latency_ms, error "
                "FROM delivery_attempts WHERE delivery_id = ANY(%s) ORDER BY delivery_id, n",
                ([r["delivery_id"] for r in page.rows],),
            )
            attempts: dict[uuid.UUID, list[Row]] = {}
            for attempt in await cur.fetchall():
                attempts.setdefault(attempt["delivery_id"], []).append(attempt)
        return page, attempts

    async def _one(self, query: str, params: Sequence[Any] | dict[str, Any]) -> Row | None:
        async with self.store.transaction() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()
