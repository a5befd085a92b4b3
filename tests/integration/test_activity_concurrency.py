"""Concurrent ends of one workout: exactly one stores its result, every caller answers with
that result, and the totals, the week and the event stream have the workout once, with
the values stored."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis

from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.events import WORKOUTS_STREAM

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
