"""Concurrent ends of one workout: exactly one stores its result, every caller answers with
that result, and the totals, the week and the event stream have the workout once, with
the values stored. Concurrent logs of one user's workouts in one week: each is listed and
counted, on FerretDB too (whose updates take turns there, store.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis

from activity_service.store import Store
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.events import WORKOUTS_STREAM
from servicekit.protofields import timestamp
from tests.helpers import wait_for

Stub = activity_pb2_grpc.ActivityServiceStub
ROUNDS = 20
CALLERS = 20


async def test_concurrent_ends_have_one_winner_and_count_once(
    activity_stub: Stub, redis: aioredis.Redis
) -> None:
    user_id = str(uuid.uuid4())
    stored: list[pb.Workout] = []
    for n in range(ROUNDS):
        started = await activity_stub.StartWorkout(
            pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_RUNNING),
            timeout=10,
        )
        await asyncio.sleep(0.01)
        # No end time: each caller would end it at its own "now", with its own distance.
        ends = [
            pb.EndWorkoutRequest(
                user_id=user_id, workout_id=started.workout.workout_id, distance_m=100.0 + i
            )
            for i in range(CALLERS)
        ]
        replies = await asyncio.gather(*(activity_stub.EndWorkout(e, timeout=10) for e in ends))
        got = await activity_stub.GetWorkout(
            pb.GetWorkoutRequest(user_id=user_id, workout_id=started.workout.workout_id),
            timeout=10,
        )
        assert got.workout.status == pb.WORKOUT_STATUS_COMPLETED
        assert all(r.workout == got.workout for r in replies), f"round {n}: callers disagree"
        stored.append(got.workout)

    stats = await activity_stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
    assert stats.statistics.total_workouts == ROUNDS
    assert stats.statistics.total_duration_seconds == pytest.approx(
        sum(w.duration_seconds for w in stored)
    )
    assert stats.statistics.total_calories_burned == pytest.approx(
        sum(w.score.calories_burned for w in stored), abs=0.01
    )
    listed = await activity_stub.ListWorkouts(
        pb.ListWorkoutsRequest(user_id=user_id, page_size=100), timeout=10
    )
    assert sorted(listed.workouts, key=lambda w: w.workout_id) == sorted(
        stored, key=lambda w: w.workout_id
    )
    entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
    ids = {w.workout_id for w in stored}
    published = Counter(f["event_id"] for _, f in entries if f.get("event_id") in ids)
    assert published == dict.fromkeys(ids, 1)
    for w in stored:
        event = next(f for _, f in entries if f.get("event_id") == w.workout_id)
        assert float(event["distance_m"]) == w.distance_m


def _logs(user_id: str, count: int) -> list[pb.LogWorkoutRequest]:
    """`count` workouts of 20 minutes, three hours apart, in one ISO week."""
    monday = dt.datetime(2026, 11, 2, 6, tzinfo=dt.UTC)
    return [
        pb.LogWorkoutRequest(
            user_id=user_id,
            workout_type=spb.WORKOUT_TYPE_RUNNING,
            start_time=timestamp(monday + dt.timedelta(hours=3 * n)),
            end_time=timestamp(monday + dt.timedelta(hours=3 * n, minutes=20)),
            request_id=uuid.uuid4().hex,
        )
        for n in range(count)
    ]


async def _kept(stub: Stub, user_id: str, logged: list[str]) -> None:
    """Every logged workout is listed and counted, once."""
    listed = await stub.ListWorkouts(pb.ListWorkoutsRequest(user_id=user_id), timeout=10)
    assert sorted(w.workout_id for w in listed.workouts) == sorted(logged)
    stats = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
    assert stats.statistics.total_workouts == len(logged)
    assert stats.statistics.total_duration_seconds == 1200 * len(logged)


async def test_concurrent_logs_of_one_users_week_are_each_kept(activity_stub: Stub) -> None:
    # Each round updates one user's totals and week at once from every caller; on FerretDB
    # without turns, a round in ten lost one of them.
    for _ in range(10):
        user_id = str(uuid.uuid4())
        calls = (activity_stub.LogWorkout(r, timeout=10) for r in _logs(user_id, 4))
        replies = await asyncio.gather(*calls)
        await _kept(activity_stub, user_id, [r.workout.workout_id for r in replies])


async def test_a_lease_left_by_a_dead_holder_is_waited_for_then_taken(
    activity_stub: Stub, mongo: Server, activity_service_env: dict[str, str]
) -> None:
    store = Store(mongo.url, activity_service_env["MONGODB_DATABASE"])
    user_id = str(uuid.uuid4())
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    try:
        await store.leases.insert_one({"_id": user_id, "token": "gone", "until": until})
        began = time.monotonic()
        reply = await activity_stub.LogWorkout(_logs(user_id, 1)[0], timeout=10)
        assert time.monotonic() - began >= 1.0  # it waited for the lease to expire
        await _kept(activity_stub, user_id, [reply.workout.workout_id])
        assert await store.leases.find_one({"_id": user_id}) is None
    finally:
        await store.stop()


async def test_a_turn_runs_to_its_end_when_its_caller_leaves(mongo: Server) -> None:
    store = Store(mongo.url, f"leases_{uuid.uuid4().hex[:8]}")
    user_id = str(uuid.uuid4())
    began, go_on = asyncio.Event(), asyncio.Event()

    async def update() -> None:
        began.set()
        await go_on.wait()
        await store.totals.insert_one({"_id": user_id})

    try:
        # A deadline cancels the call mid-update: the update goes on, then gives the lease
        # back, so the user's next writer does not wait for it to expire.
        caller = asyncio.create_task(store.in_turn(user_id, update))
        await began.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert await store.leases.find_one({"_id": user_id}) is not None
        go_on.set()
        await wait_for(lambda: _lease_gone(store, user_id), timeout=5)
        assert await store.totals.find_one({"_id": user_id}) == {"_id": user_id}
    finally:
        await store.client.drop_database(store.leases.database.name)
        await store.stop()


async def test_a_failed_update_leaves_its_lease_to_expire(mongo: Server) -> None:
    store = Store(mongo.url, f"leases_{uuid.uuid4().hex[:8]}")
    user_id = str(uuid.uuid4())

    async def failing() -> None:
        raise ConnectionError("the server went away mid-update")

    try:
        with pytest.raises(ConnectionError):
            await store.in_turn(user_id, failing)
        # The update may still run on the server: the next writer must not get in beside it.
        left = await store.leases.find_one({"_id": user_id})
        assert left is not None
        assert left["until"] > dt.datetime.now(dt.UTC)
    finally:
        await store.client.drop_database(store.leases.database.name)
        await store.stop()


async def _lease_gone(store: Store, user_id: str) -> bool:
    return await store.leases.find_one({"_id": user_id}) is None
