"""PostgreSQL access for accounts, goals and notifications. Every query is parameterized;
a lost database connection becomes UNAVAILABLE, never a crash."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from servicekit.errors import AlreadyExists, Unavailable

Row = dict[str, Any]
Conn = psycopg.AsyncConnection[Row]

USER_COLUMNS = (
    "user_id, username, email, display_name, weight_kg, height_cm, birth_date_enc, sex, "
    "resting_heart_rate, max_heart_rate, created_at"
)
GOAL_COLUMNS = (
    "goal_id, user_id, goal_type, target_value, target_date, current_progress, status, "
    "created_at, achieved_at"
)
PROFILE_COLUMNS = frozenset(
    {
        "display_name",
        "weight_kg",
        "height_cm",
        "birth_date_enc",
        "sex",
        "resting_heart_rate",
        "max_heart_rate",
    }
)
GOAL_UPDATE_COLUMNS = frozenset({"target_value", "target_date", "status", "achieved_at"})
UNIQUE_FIELDS = {"users_email_ci": "email", "users_username_ci": "username"}


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    more: bool


class Store:
    def __init__(self, database_url: str, pool_size: int) -> None:
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={"row_factory": dict_row},
            # A connection that died with a database restart is replaced, not handed out.
            check=AsyncConnectionPool.check_connection,
            timeout=5,
        )

    async def start(self) -> None:
        await self.pool.open(wait=False)

    async def stop(self) -> None:
        await self.pool.close()

    async def ping(self) -> bool:
        try:
            async with self.pool.connection(timeout=1) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout):
            return False
        return True

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            # Lost or closed connections: the caller may retry once the database is back.
            raise Unavailable("the database is unavailable") from exc

    # Accounts

    async def create_user(self, values: Mapping[str, Any]) -> Row:
        columns = sql.SQL(", ").join(map(sql.Identifier, values))
        params = sql.SQL(", ").join(sql.Placeholder(k) for k in values)
        query = sql.SQL("INSERT INTO users ({}) VALUES ({}) RETURNING {}").format(
            columns, params, sql.SQL(USER_COLUMNS)
        )
        try:
            async with self.transaction() as conn:
                return await _one(conn, query, values)
        except pg_errors.UniqueViolation as exc:
            field = UNIQUE_FIELDS.get(exc.diag.constraint_name or "", "")
            raise AlreadyExists(f"{field or 'account'} is already taken", field) from exc

    async def user_of_request(self, idempotency_key: str) -> Row | None:
        """The account a registration with this idempotency key made, with the fingerprint
        of that request."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {USER_COLUMNS}, request_fingerprint FROM users "  # noqa: S608
                "WHERE idempotency_key = %s",
                (idempotency_key,),
            )
            return await cur.fetchone()

    async def credentials(self, email: str) -> Row | None:
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT user_id, password_hash FROM users WHERE lower(email) = lower(%s)", (email,)
            )
            return await cur.fetchone()

    async def password_hash(self, user_id: uuid.UUID) -> str | None:
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT password_hash FROM users WHERE user_id = %s", (user_id,)
            )
            row = await cur.fetchone()
        return row["password_hash"] if row else None

    async def get_user(self, user_id: uuid.UUID) -> Row | None:
        async with self.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE user_id = %s",  # noqa: S608
                (user_id,),
            )
            return await cur.fetchone()

    async def update_profile(self, user_id: uuid.UUID, changes: Mapping[str, Any]) -> Row | None:
        assert set(changes) <= PROFILE_COLUMNS
        sets = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
        )
        query = sql.SQL(
            "UPDATE users SET {}, updated_at = now() WHERE user_id = %(user_id)s RETURNING {}"
        ).format(sets, sql.SQL(USER_COLUMNS))
        async with self.transaction() as conn:
            cur = await conn.execute(query, {**changes, "user_id": user_id})
            return await cur.fetchone()

    # Goals

    async def create_goal(self, values: Mapping[str, Any]) -> Row:
        async with self.transaction() as conn:
            return await _one(
                conn,
                f"INSERT INTO goals (goal_id, user_id, goal_type, target_value, target_date) "  # noqa: S608
                f"VALUES (%(goal_id)s, %(user_id)s, %(goal_type)s, %(target_value)s, "
                f"%(target_date)s) RETURNING {GOAL_COLUMNS}",
                values,
            )

    async def list_goals(
        self, user_id: uuid.UUID, limit: int, after: tuple[dt.datetime, str] | None
    ) -> Page:
        return await self._page(
            f"SELECT {GOAL_COLUMNS} FROM goals WHERE user_id = %s",  # noqa: S608
            ("created_at", "goal_id"),
            user_id,
            limit,
            after,
        )

    async def get_goal(self, user_id: uuid.UUID, goal_id: uuid.UUID) -> Row | None:
        async with self.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {GOAL_COLUMNS} FROM goals WHERE user_id = %s AND goal_id = %s",  # noqa: S608
                (user_id, goal_id),
            )
            return await cur.fetchone()

    async def update_goal(
        self, user_id: uuid.UUID, goal_id: uuid.UUID, changes: Mapping[str, Any]
    ) -> Row | None:
        assert changes
        assert set(changes) <= GOAL_UPDATE_COLUMNS
        sets = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
        )
        query = sql.SQL(
            "UPDATE goals SET {} WHERE user_id = %(user_id)s AND goal_id = %(goal_id)s RETURNING {}"
        ).format(sets, sql.SQL(GOAL_COLUMNS))
        async with self.transaction() as conn:
            cur = await conn.execute(query, {**changes, "user_id": user_id, "goal_id": goal_id})
            return await cur.fetchone()

    async def delete_goal(self, user_id: uuid.UUID, goal_id: uuid.UUID) -> bool:
        async with self.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM goals WHERE user_id = %s AND goal_id = %s", (user_id, goal_id)
            )
            return cur.rowcount == 1

    # Notifications

    async def list_notifications(
        self, user_id: uuid.UUID, limit: int, after: tuple[dt.datetime, str] | None
    ) -> Page:
        return await self._page(
            "SELECT notification_id, user_id, kind, payload, created_at "
            "FROM notifications WHERE user_id = %s",
            ("created_at", "notification_id"),
            user_id,
            limit,
            after,
        )

    async def unpublished(self, limit: int = 100) -> list[Row]:
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT notification_id, user_id, kind, payload FROM notifications "
                "WHERE published_at IS NULL ORDER BY created_at LIMIT %s",
                (limit,),
            )
            return await cur.fetchall()

    async def mark_published(self, notification_id: uuid.UUID) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE notifications SET published_at = now() WHERE notification_id = %s",
                (notification_id,),
            )

    async def _page(
        self,
        select: str,
        key: tuple[str, str],
        user_id: uuid.UUID,
        limit: int,
        after: tuple[dt.datetime, str] | None,
    ) -> Page:
        at_col, id_col = key
        params: list[Any] = [user_id]
        query = select
        if after is not None:
            query += f" AND ({at_col}, {id_col}) < (%s, %s)"
            params += [after[0], uuid.UUID(after[1])]
        query += f" ORDER BY {at_col} DESC, {id_col} DESC LIMIT %s"
        params.append(limit + 1)
        async with self.transaction() as conn:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        return Page(rows[:limit], len(rows) > limit)


async def _one(conn: Conn, query: Any, params: Mapping[str, Any]) -> Row:
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    assert row is not None
    return row


# Locked in goal_id order, whichever types are asked for, so two events of one user
# cannot deadlock; a goal another transaction just achieved is no longer selected.
GOAL_FOR_EVALUATION = (
    "SELECT goal_id, goal_type, target_value, target_date, current_progress, status, "
    "created_at FROM goals WHERE user_id = %s AND status = 'active' AND goal_type = ANY(%s) "
    "ORDER BY goal_id FOR UPDATE"
)


async def record_event(conn: Conn, event_id: str) -> bool:
    """Mark an event processed in the caller's transaction; False if it already was."""
    cur = await conn.execute(
        "INSERT INTO processed_events (event_id) VALUES (%s) ON CONFLICT DO NOTHING", (event_id,)
    )
    return cur.rowcount == 1


async def active_goals_for_update(
    conn: Conn, user_id: uuid.UUID, goal_types: Sequence[str]
) -> list[Row]:
    """The user's active goals of these types, locked until the transaction ends."""
    cur = await conn.execute(GOAL_FOR_EVALUATION, (user_id, list(goal_types)))
    return await cur.fetchall()


async def save_progress(
    conn: Conn, goal_id: uuid.UUID, progress: float, status: str, at: dt.datetime
) -> Row:
    return await _one(
        conn,
        f"UPDATE goals SET current_progress = %(progress)s, status = %(status)s, "  # noqa: S608
        f"achieved_at = CASE WHEN %(status)s = 'achieved' THEN %(at)s ELSE achieved_at END "
        f"WHERE goal_id = %(goal_id)s RETURNING {GOAL_COLUMNS}",
        {"progress": progress, "status": status, "at": at, "goal_id": goal_id},
    )


async def add_notification(
    conn: Conn,
    user_id: uuid.UUID,
    goal_id: uuid.UUID,
    payload: Any,
    kind: str = "goal_achieved",
    round_: int = 0,
) -> None:
    """One alert of a kind per goal and round (the times it was achieved and lost since)."""
    await conn.execute(
        "INSERT INTO notifications (notification_id, user_id, kind, goal_id, payload, round) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (goal_id, kind, round) DO NOTHING",
        (uuid.uuid4(), user_id, kind, goal_id, Jsonb(payload), round_),
    )
