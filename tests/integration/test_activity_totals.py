"""Running totals in the store: overall and per week, each added once, even when a crash
left the second half of an addition undone; totals written before weeks had documents of
their own still answer for their weeks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from activity_service.store import Store, week_key
from devstack.servers import Server

WEEK = "2026-W47"
OVERALL = {"total_workouts": 1, "total_duration_seconds": 600.0}
WEEKLY = {"total_workouts": 1, "intensity_minutes": 20.0}


@pytest_asyncio.fixture
async def store(mongo: Server) -> AsyncIterator[Store]:
    found = Store(mongo.url, f"totals_{uuid.uuid4().hex[:8]}")
    await found.start()
    yield found
    await found.client.drop_database(found.workouts.database.name)
    await found.stop()


async def test_each_workout_counts_once_overall_and_in_its_week(store: Store) -> None:
    user = uuid.uuid4().hex
    assert await store.add_to_totals(user, "w1", OVERALL, WEEK, WEEKLY)
    assert not await store.add_to_totals(user, "w1", OVERALL, WEEK, WEEKLY)  # a retry
    assert await store.add_to_totals(user, "w2", OVERALL, WEEK, WEEKLY)
    totals, week = await store.totals_of(user, WEEK)
    assert totals is not None
    assert totals["total_workouts"] == 2
    assert week is not None
    assert week["total_workouts"] == 2
    assert week["intensity_minutes"] == 40.0
    assert "recent" not in week
    _, other = await store.totals_of(user, "2026-W46")
    assert other is None


async def test_a_retry_finishes_a_half_done_addition(store: Store) -> None:
    user = uuid.uuid4().hex
    # A crash after the overall totals and before the week's: the retry adds the week only.
    await store._add_once(store.totals, user, "w1", OVERALL)
    assert not await store.add_to_totals(user, "w1", OVERALL, WEEK, WEEKLY)
    totals, week = await store.totals_of(user, WEEK)
    assert totals is not None
    assert totals["total_workouts"] == 1
    assert week is not None
    assert week["total_workouts"] == 1


async def test_weeks_kept_inside_older_totals_still_answer(store: Store) -> None:
    user = uuid.uuid4().hex
    await store.totals.insert_one(
        {"_id": user, "total_workouts": 3, "weeks": {WEEK: {"total_workouts": 3}}}
    )
    totals, week = await store.totals_of(user, WEEK)
    assert totals is not None
    assert totals["total_workouts"] == 3
    assert week == {"total_workouts": 3}
    # Once the week has a document of its own, that one answers.
    await store.weekly.insert_one({"_id": week_key(user, WEEK), "total_workouts": 4})
    _, week = await store.totals_of(user, WEEK)
    assert week is not None
    assert week["total_workouts"] == 4
