"""PostgreSQL access for what workouts add to goals: each goal's contributions, one per
workout in the order they came, and each workout's newest version applied (events from
the workout stream, user_service.workout_goals). Functions of the caller's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from user_service.store import GOAL_COLUMNS, Conn, Row

WORKOUT_GOAL_COLUMNS = f"{GOAL_COLUMNS}, untracked_progress, round"
# Qualified for the join below; the same order as WORKOUT_GOAL_COLUMNS.
_JOINED_GOAL_COLUMNS = ", ".join(f"g.{c.strip()}" for c in WORKOUT_GOAL_COLUMNS.split(","))


async def hold_user(conn: Conn, user_id: uuid.UUID) -> bool:
    """Whether the user has an account here, kept (KEY SHARE) until the transaction ends, so
    an erasure waits for it and then deletes what it wrote."""
    cur = await conn.execute("SELECT 1 FROM users WHERE user_id = %s FOR KEY SHARE", (user_id,))
    return await cur.fetchone() is not None


async def claim_workout_version(
    conn: Conn, workout_id: str, user_id: uuid.UUID, version: int, deleted: bool
) -> int | None:
    """Record `version` as the newest applied of a workout, in the caller's transaction
    (which holds the workout's row until it ends): the version applied before it (0: none),
    or None when this one is not newer and there is nothing to do."""
    await conn.execute(
        "INSERT INTO workout_versions (workout_id, user_id, version) VALUES (%s, %s, 0) "
        "ON CONFLICT DO NOTHING",
        (workout_id, user_id),
    )
    cur = await conn.execute(
        "SELECT version FROM workout_versions WHERE workout_id = %s FOR UPDATE", (workout_id,)
    )
    row = await cur.fetchone()
    assert row is not None
    if version <= row["version"]:
        return None
    await conn.execute(
        "UPDATE workout_versions SET version = %s, deleted = %s WHERE workout_id = %s",
        (version, deleted, workout_id),
    )
    return int(row["version"])


async def event_recorded(conn: Conn, event_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM processed_events WHERE event_id = %s", (event_id,))
    return await cur.fetchone() is not None


async def goals_counting_workouts(
    conn: Conn, user_id: uuid.UUID, goal_types: Sequence[str]
) -> list[Row]:
    """The user's workout goals a new workout counts toward (active or achieved), locked in
    goal_id order (as every lock of goals is taken) until the transaction ends."""
    cur = await conn.execute(
        f"SELECT {WORKOUT_GOAL_COLUMNS} FROM goals WHERE user_id = %s "  # noqa: S608
        "AND status IN ('active', 'achieved') AND goal_type = ANY(%s) "
        "ORDER BY goal_id FOR UPDATE",
        (user_id, list(goal_types)),
    )
    return await cur.fetchall()


async def goals_of_workout(conn: Conn, workout_id: str) -> list[Row]:
    """The goals a workout counted toward, locked in goal_id order."""
    cur = await conn.execute(
        f"SELECT {_JOINED_GOAL_COLUMNS} FROM goals g "  # noqa: S608
        "JOIN goal_contributions c ON c.goal_id = g.goal_id WHERE c.workout_id = %s "
        "ORDER BY g.goal_id FOR UPDATE OF g",
        (workout_id,),
    )
    return await cur.fetchall()


async def put_contribution(conn: Conn, goal_id: uuid.UUID, workout_id: str, amount: float) -> None:
    """What a workout adds to a goal; a later version changes the amount, not its place."""
    await conn.execute(
        "INSERT INTO goal_contributions (goal_id, workout_id, amount) VALUES (%s, %s, %s) "
        "ON CONFLICT (goal_id, workout_id) DO UPDATE SET amount = EXCLUDED.amount",
        (goal_id, workout_id, amount),
    )


async def drop_contribution(conn: Conn, goal_id: uuid.UUID, workout_id: str) -> None:
    await conn.execute(
        "DELETE FROM goal_contributions WHERE goal_id = %s AND workout_id = %s",
        (goal_id, workout_id),
    )


async def contributions(conn: Conn, goal_id: uuid.UUID) -> list[float]:
    """What each workout added to a goal, in the order they came."""
    cur = await conn.execute(
        "SELECT amount FROM goal_contributions WHERE goal_id = %s ORDER BY seq", (goal_id,)
    )
    return [row["amount"] for row in await cur.fetchall()]


async def set_standing(
    conn: Conn,
    goal_id: uuid.UUID,
    progress: float,
    status: str,
    achieved_at: dt.datetime | None,
    round_: int,
) -> Row:
    cur = await conn.execute(
        f"UPDATE goals SET current_progress = %(progress)s, status = %(status)s, "  # noqa: S608
        f"achieved_at = %(achieved_at)s, round = %(round)s "
        f"WHERE goal_id = %(goal_id)s RETURNING {WORKOUT_GOAL_COLUMNS}",
        {
            "progress": progress,
            "status": status,
            "achieved_at": achieved_at,
            "round": round_,
            "goal_id": goal_id,
        },
    )
    row = await cur.fetchone()
    assert row is not None, "the goal is locked by the caller's transaction"
    return row
