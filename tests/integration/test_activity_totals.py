"""Running totals in the store: overall and per week, each workout added once, even when a
crash left the second half of an addition undone; totals written before the current
weeks' sums were kept apart still answer for their weeks; a workout waiting for its score
is listed, not counted."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from activity_service import history, weeks
from activity_service.store import Store
from devstack.servers import Server
from tests.clock import Clock


@pytest.fixture
def this_week(clock: Clock) -> str:
    """Statistics ask for the current week."""
    return weeks.name(clock.now)


@pytest_asyncio.fixture
async def store(mongo: Server) -> AsyncIterator[Store]:
    found = Store(mongo.url, f"totals_{uuid.uuid4().hex[:8]}")
    await found.start()
    yield found
    await found.client.drop_database(found.workouts.database.name)
    await found.stop()


def workout(week: str, user: str, workout_id: str, day: int = 0) -> dict[str, Any]:
    """A stored, scored workout: 10 minutes of vigorous running."""
    start = weeks.bounds(week)[0] + dt.timedelta(days=day, hours=7)
    return {
        "_id": workout_id,
        "user_id": user,
        "workout_type": "running",
        "status": "completed",
        "start_time": start,
        "end_time": start + dt.timedelta(minutes=10),
        "duration_seconds": 600.0,
        "athlete": {},
        "score_status": "scored",
        "score": {"calories_burned": 100.0, "moderate_minutes": 0.0, "intensity_minutes": 20.0},
    }


async def test_each_workout_counts_once_overall_and_in_its_week(
    store: Store, this_week: str
) -> None:
    user = uuid.uuid4().hex
    assert await history.count_once(store, workout(this_week, user, "w1"))
    assert not await history.count_once(store, workout(this_week, user, "w1"))  # a retry
    assert await history.count_once(store, workout(this_week, user, "w2", day=3))
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert totals["total_workouts"] == 2
    assert totals["by_type"]["running"]["total_workouts"] == 2
    assert week is not None
    assert week["total_workouts"] == 2
    assert week["intensity_minutes"] == 40.0
    assert "w" not in week
    _, other = await history.totals_of(store, user, weeks.shift(this_week, -1))
    assert other is None


async def test_a_retry_finishes_a_half_done_addition(store: Store, this_week: str) -> None:
    user = uuid.uuid4().hex
    # A crash after the totals and before the week's entry: the retry adds the entry only.
    w1 = workout(this_week, user, "w1")
    first_half = history.Contribution()
    first_half.add(w1)
    await store.update_totals(user, first_half.increment(history.applying("w1")))
    assert not await history.count_once(store, w1)
    # The same after an end, whose trace is the last ended workout.
    w2 = workout(this_week, user, "w2", day=1)
    first_half = history.Contribution()
    first_half.add(w2)
    await store.update_totals(user, first_half.increment({"last_end": "w2"}))
    assert not await history.count_once(store, w2)
    # Once the entry is in, the trace may go: the scored entry proves the sums have it.
    await history.forget_applying(store, user, "w1")
    assert not await history.count_once(store, w1)
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert totals["total_workouts"] == 2
    assert week is not None
    assert week["total_workouts"] == 2
    listed = await history.page(store, history.Query(user_id=user, limit=10))
    assert [w["_id"] for w in listed] == ["w2", "w1"]


async def test_weeks_kept_inside_older_totals_still_answer(store: Store, this_week: str) -> None:
    user = uuid.uuid4().hex
    await store.totals.insert_one(
        {"_id": user, "total_workouts": 3, "weeks": {this_week: {"total_workouts": 3}}}
    )
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert totals["total_workouts"] == 3
    assert week == {"total_workouts": 3}
    # Once the totals keep the week's running sums of their own, those answer.
    await store.totals.update_one(
        {"_id": user}, {"$set": {f"recent_weeks.{this_week}.total_workouts": 4}}
    )
    _, week = await history.totals_of(store, user, this_week)
    assert week is not None
    assert week["total_workouts"] == 4


async def test_a_workout_waiting_for_its_score_is_listed_not_counted(
    store: Store, this_week: str
) -> None:
    user = uuid.uuid4().hex
    waiting = {**workout(this_week, user, "w1"), "score_status": "pending", "score": None}
    assert not await history.count_once(store, waiting)  # nothing to count yet
    assert await history.count_once(store, workout(this_week, user, "w2", day=1))
    listed = await history.page(store, history.Query(user_id=user, limit=10))
    assert [(w["_id"], w["score_status"]) for w in listed] == [("w2", "scored"), ("w1", "pending")]
    assert [w["_id"] for w in await history.week_workouts(store, user, this_week)] == ["w2"]
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert week is not None
    assert totals["total_workouts"] == week["total_workouts"] == 1
    # Scored later, it is counted once, and its entry is replaced.
    assert await history.count_once(
        store,
        {**waiting, "score_status": "scored", "score": workout(this_week, user, "w1")["score"]},
    )
    listed = await history.page(store, history.Query(user_id=user, limit=10))
    assert [w["score_status"] for w in listed] == ["scored", "scored"]
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert week is not None
    assert totals["total_workouts"] == week["total_workouts"] == 2


async def test_buckets_holding_workouts_as_documents_still_answer(
    store: Store, this_week: str
) -> None:
    """Buckets written before entries were packed keep plain documents until a rebuild:
    a page lists them beside packed ones, and a retry finds them counted."""
    user = uuid.uuid4().hex
    old = workout(this_week, user, "w1")
    assert await history.count_once(store, old)
    plain = {k: v for k, v in old.items() if k not in ("_id", "user_id")}
    await store.update_bucket(user, this_week, {"$set": {"w.w1": plain}})
    new = workout(this_week, user, "w2", day=2)
    assert await history.count_once(store, new)
    assert not await history.count_once(store, old)  # a retry: counted already
    listed = await history.page(store, history.Query(user_id=user, limit=10))
    assert listed == [new, old]  # each as stored, the packed one and the plain one
    totals, week = await history.totals_of(store, user, this_week)
    assert totals is not None
    assert week is not None
    assert totals["total_workouts"] == week["total_workouts"] == 2
