"""A crash at any point of an end or a log: the state it leaves is finished by recovery,
each workout counted once, announced, and the user's slot freed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import redis.asyncio as aioredis

from activity_service import history, recovery
from activity_service.store import Doc, Store
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.events import WORKOUTS_STREAM
from tests.helpers import wait_for

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def workout(user: str) -> Doc:
    """A workout as an end or a log stores it, a minute ago."""
    start = NOW - dt.timedelta(minutes=31)
    return {
        "_id": str(uuid.uuid4()),
        "user_id": user,
        "workout_type": "running",
        "status": "completed",
        "active_key": "done",
        "start_time": start,
        "end_time": start + dt.timedelta(minutes=30),
        "duration_seconds": 1800.0,
        "athlete": {},
        "completed_at": NOW - dt.timedelta(minutes=1),
        "score_status": "scored",
        "score": {
            "met": 9.8,
            "intensity": "vigorous",
            "intensity_source": "met",
            "calories_burned": 343.0,
            "moderate_minutes": 0.0,
            "vigorous_minutes": 30.0,
            "intensity_minutes": 60.0,
            "points": 40.0,
            "weight_kg_used": 70.0,
        },
    }


async def totals_only(store: Store, doc: Doc, trace: dict[str, Any]) -> None:
    """The first half of adding a workout to the read model."""
    contribution = history.Contribution()
    contribution.add(doc)
    await store.update_totals(doc["user_id"], contribution.increment(trace))


async def ended_until(store: Store, step: int) -> Doc:
    """An end that crashed after `step` of: 1 store the workout, 2 totals, 3 its week,
    4 announce (its slot is never freed)."""
    doc = workout(str(uuid.uuid4()))
    running = {k: doc[k] for k in ("_id", "user_id", "workout_type", "start_time", "athlete")}
    assert await store.start_active({**running, "status": "active"})
    await store.insert_workout(doc)
    if step >= 2:
        await totals_only(store, doc, {"last_end": doc["_id"]})
    if step >= 3:
        await history.put(store, [doc])
    return doc


async def logged_until(store: Store, step: int) -> Doc:
    """A log that crashed after `step` of: 0 mark, 1 store, 2 totals, 3 its week,
    4 announce, 5 drop the mark (its trace stays)."""
    doc = workout(str(uuid.uuid4()))
    await recovery.mark(store, doc, None, NOW - dt.timedelta(seconds=1))
    if step >= 1:
        await store.insert_workout(doc)
    if step >= 2:
        await totals_only(store, doc, history.applying(doc["_id"]))
    if step >= 3:
        await history.put(store, [doc])
    if step >= 5:
        await store.drop_marker(recovery.marker_id(doc["_id"], 0))
    return doc


async def test_recovery_finishes_what_a_crash_left_and_counts_once(
    mongo: Server, activity_service_env: dict[str, str], redis: aioredis.Redis
) -> None:
    env = {
        **activity_service_env,
        "MONGODB_DATABASE": f"t_{uuid.uuid4().hex[:12]}",
        "SETTLE_GRACE_SECONDS": "5",
    }
    store = Store(mongo.url, env["MONGODB_DATABASE"])
    ended = [await ended_until(store, step) for step in (1, 2, 3, 4)]
    logged = [await logged_until(store, step) for step in (1, 2, 3, 4, 5)]
    unstored = await logged_until(store, 0)
    service = await services.start("activity_service", env)
    try:
        async with service.channel() as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)

            async def finished() -> bool:
                # No work left, and no slot left by a crashed end (it becomes work first).
                left = await store.settling.count_documents({})
                return left + await store.active.count_documents({}) == 0

            await wait_for(finished, timeout=30)
            entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
            announced = {f["event_id"] for _, f in entries}
            for doc in ended + logged:
                stats = await stub.GetStatistics(
                    pb.GetStatisticsRequest(user_id=doc["user_id"]), timeout=10
                )
                assert stats.statistics.total_workouts == 1
                assert stats.statistics.total_calories_burned == 343.0
                assert stats.statistics.current_week.total_workouts in (0, 1)
                listed = await stub.ListWorkouts(
                    pb.ListWorkoutsRequest(user_id=doc["user_id"]), timeout=10
                )
                assert [w.workout_id for w in listed.workouts] == [doc["_id"]]
                assert listed.workouts[0].status == pb.WORKOUT_STATUS_COMPLETED
                score = await stub.GetActivityScore(
                    pb.GetActivityScoreRequest(user_id=doc["user_id"]), timeout=10
                )
                assert score.workouts in (0, 1)
            # Announced, except the log whose mark was dropped after it announced.
            assert {d["_id"] for d in ended + logged[:-1]} <= announced
            for doc in ended:  # the slot is free again
                await stub.StartWorkout(
                    pb.StartWorkoutRequest(
                        user_id=doc["user_id"], workout_type=spb.WORKOUT_TYPE_YOGA
                    ),
                    timeout=10,
                )
            assert await store.workout(unstored["_id"]) is None
            totals = await store.totals_doc(logged[-1]["user_id"])
            assert totals is not None
            assert totals["total_workouts"] == 1
    finally:
        service.stop()
        await store.client.drop_database(env["MONGODB_DATABASE"])
        await store.stop()
