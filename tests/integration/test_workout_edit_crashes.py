"""A change of a workout that a crash stopped after any step (revisions.py: 1 totals,
2 weeks, 3 the workout; 4 the announcement never went out): recovery finishes it, the
difference counted once and the change announced; a change its request never confirmed is
dropped with nothing moved."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest_asyncio
import redis.asyncio as aioredis

from activity_service import history, revisions
from activity_service.store import Doc, Store
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from servicekit.events import WORKOUTS_STREAM
from tests.helpers import log_workout, rpc_error, wait_for

Stub = activity_pb2_grpc.ActivityServiceStub
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
EDIT, DELETE = "edit", "delete"


@pytest_asyncio.fixture
async def store(
    mongo: Server,
    activity_service_env: dict[str, str],
    activity_service: services.ServiceProcess,
) -> AsyncIterator[Store]:
    """The shared activity service's own database, whose recovery loop runs every 0.3 s."""
    opened = Store(mongo.url, activity_service_env["MONGODB_DATABASE"])
    yield opened
    await opened.stop()


def edited(before: Doc) -> Doc:
    """Version 2 of a workout: longer, and 100 kcal and 10 intensity minutes more."""
    score = before["score"]
    return {
        **before,
        "distance_m": 6000.0,
        "version": 2,
        "score": {
            **score,
            "calories_burned": score["calories_burned"] + 100.0,
            "intensity_minutes": score["intensity_minutes"] + 10.0,
        },
    }


async def crashed(
    store: Store, stub: Stub, kind: str, step: int, confirmed: bool = True
) -> tuple[Doc, Doc | None]:
    """A workout whose change to version 2 stopped after `step`; due for recovery now."""
    logged = await log_workout(stub, str(uuid.uuid4()), NOW - dt.timedelta(hours=3), 30)
    before = await store.workout(logged.workout_id)
    assert before is not None
    after = edited(before) if kind == EDIT else None
    marker = revisions.new_marker(before, after, NOW + dt.timedelta(hours=1))
    marker["revision"]["confirmed"] = confirmed
    await store.add_marker(marker)
    if step >= 1:
        trace = {revisions.trace(before["_id"], 2): True}
        await store.update_totals(
            before["user_id"], history.difference(before, after).increment(trace)
        )
    if step >= 2:
        await history.move(store, before, after)
    if step >= 3:
        at = marker["revision"]["at"]
        await store.replace_workout(after or revisions.tombstone(before, 2, at))
    await store.set_marker(marker["_id"], {"ready_at": NOW - dt.timedelta(seconds=1)})
    return before, after


async def test_recovery_finishes_a_change_a_crash_left_once(
    store: Store, activity_stub: Stub, redis: aioredis.Redis
) -> None:
    changes = [(EDIT, step) for step in (0, 1, 2, 3)] + [(DELETE, step) for step in (1, 3)]
    left = [await crashed(store, activity_stub, kind, step) for kind, step in changes]
    never = await crashed(store, activity_stub, EDIT, 0, confirmed=False)

    async def finished() -> bool:
        for before, _ in [*left, never]:
            if await store.markers_of(before["_id"]):
                return False
        return True

    await wait_for(finished, timeout=30)
    entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
    # Entries of other kinds (import.finished) name no event id.
    announced = {f["event_id"]: f["type"] for _, f in entries if "event_id" in f}
    for before, after in left:
        user_id, workout_id = before["user_id"], before["_id"]
        stats = await stats_of(activity_stub, user_id)
        assert not (await store.totals_doc(user_id) or {}).get("revising")
        listed = await activity_stub.ListWorkouts(
            pb.ListWorkoutsRequest(user_id=user_id), timeout=10
        )
        get = pb.GetWorkoutRequest(user_id=user_id, workout_id=workout_id)
        if after is None:
            assert (stats.total_workouts, stats.total_calories_burned) == (0, 0.0)
            assert list(listed.workouts) == []
            error = await rpc_error(activity_stub.GetWorkout(get, timeout=10))
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert announced[f"{workout_id}@2"] == "workout.deleted"
            continue
        calories = round(after["score"]["calories_burned"], 2)
        assert (stats.total_workouts, stats.total_calories_burned) == (1, calories)
        assert [(w.version, w.distance_m) for w in listed.workouts] == [(2, 6000.0)]
        assert (await activity_stub.GetWorkout(get, timeout=10)).workout.version == 2
        assert announced[f"{workout_id}@2"] == "workout.updated"
    before, _ = never
    stats = await stats_of(activity_stub, before["user_id"])
    assert stats.total_calories_burned == round(before["score"]["calories_burned"], 2)
    stored = await store.workout(before["_id"])
    assert stored is not None
    assert "version" not in stored  # as logged: version 1
    assert f"{before['_id']}@2" not in announced
    totals = await store.totals_doc(before["user_id"])
    assert totals is not None
    assert not totals.get("revising")  # no trace is left behind


async def stats_of(stub: Stub, user_id: str) -> Any:
    reply = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
    return reply.statistics
