"""Crashes and outages around the activity service: no completed workout goes without its
score, its totals or its event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2

from devstack import services
from devstack.servers import Server, free_port, running, start_mongo
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.events import WORKOUTS_STREAM
from tests.helpers import wait_for

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def own_env(activity_service_env: dict[str, str]) -> dict[str, str]:
    return {**activity_service_env, "MONGODB_DATABASE": f"t_{uuid.uuid4().hex[:12]}"}


async def events_for(redis: aioredis.Redis, workout_ids: set[str]) -> list[str]:
    entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
    return [f["event_id"] for _, f in entries if f.get("event_id") in workout_ids]


async def end_three_workouts(address: str, user_id: str) -> set[str]:
    ids = set()
    async with services.channel(address, "activity_service") as channel:
        stub = activity_pb2_grpc.ActivityServiceStub(channel)
        for _ in range(3):
            started = await stub.StartWorkout(
                pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_ROWING),
                timeout=10,
            )
            ended = await stub.EndWorkout(
                pb.EndWorkoutRequest(user_id=user_id, workout_id=started.workout.workout_id),
                timeout=10,
            )
            assert ended.workout.status == pb.WORKOUT_STATUS_COMPLETED
            ids.add(ended.workout.workout_id)
    return ids


async def test_crash_between_write_and_publish_still_yields_the_event(
    own_env: dict[str, str], redis: aioredis.Redis
) -> None:
    # Redis unreachable: every workout is written, no event can be published. Then the
    # process dies without a drain, which is the state a crash between the two leaves.
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    cut_off = await services.start("activity_service", {**own_env, "REDIS_URL": unreachable})
    user_id = str(uuid.uuid4())
    try:
        ids = await end_three_workouts(cut_off.address, user_id)
    finally:
        cut_off.kill()
    assert await events_for(redis, ids) == []

    restarted = await services.start("activity_service", own_env)
    try:
        await wait_for(lambda: _all_published(redis, ids))
        async with restarted.channel() as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)
            stats = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
            assert stats.statistics.total_workouts == 3
    finally:
        restarted.stop()


async def _all_published(redis: aioredis.Redis, ids: set[str]) -> bool:
    return set(await events_for(redis, ids)) == ids


async def test_workout_ends_while_scoring_is_down_and_is_scored_when_it_returns(
    own_env: dict[str, str], redis: aioredis.Redis
) -> None:
    port = free_port()
    scoring_env = {"GRPC_PORT": str(port)}
    scoring = await services.start("scoring_service", scoring_env)
    service = await services.start(
        "activity_service", {**own_env, "SCORING_SERVICE_ADDRS": f"127.0.0.1:{port}"}
    )
    user_id = str(uuid.uuid4())
    try:
        async with service.channel() as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)
            scoring.kill()
            started = await stub.StartWorkout(
                pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_HIIT),
                timeout=10,
            )
            await asyncio.sleep(0.5)
            ended = (
                await stub.EndWorkout(
                    pb.EndWorkoutRequest(user_id=user_id, workout_id=started.workout.workout_id),
                    timeout=10,
                )
            ).workout
            assert ended.status == pb.WORKOUT_STATUS_COMPLETED
            assert ended.score_status == pb.SCORE_STATUS_PENDING
            assert ended.duration_seconds >= 0.5
            assert await events_for(redis, {ended.workout_id}) == []

            scoring = await services.start("scoring_service", scoring_env)

            async def scored() -> bool:
                reply = await stub.GetWorkout(
                    pb.GetWorkoutRequest(user_id=user_id, workout_id=ended.workout_id), timeout=10
                )
                return reply.workout.score_status == pb.SCORE_STATUS_SCORED

            await wait_for(scored, timeout=30)
            workout = (
                await stub.GetWorkout(
                    pb.GetWorkoutRequest(user_id=user_id, workout_id=ended.workout_id), timeout=10
                )
            ).workout
            assert workout.score.intensity == spb.INTENSITY_VIGOROUS
            assert workout.duration_seconds == ended.duration_seconds
            await wait_for(lambda: _all_published(redis, {ended.workout_id}))
            stats = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
            assert stats.statistics.total_workouts == 1
            assert stats.statistics.total_calories_burned == workout.score.calories_burned
    finally:
        service.stop()
        scoring.stop()


@pytest.fixture
def own_mongo() -> Iterator[Server]:
    with running(start_mongo) as server:
        yield server


async def test_health_follows_mongodb(own_env: dict[str, str], own_mongo: Server) -> None:
    service = await services.start("activity_service", {**own_env, "MONGODB_URL": own_mongo.url})
    name = "fitmesh.activity.v1.ActivityService"

    async def status_is(expected: int) -> bool:
        return await services.health_status(service.address, name) == expected

    try:
        assert await status_is(SERVING)
        await asyncio.to_thread(own_mongo.stop)
        await wait_for(lambda: status_is(NOT_SERVING), timeout=15)
        async with service.channel() as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetStatistics(pb.GetStatisticsRequest(user_id="someone"), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        await asyncio.to_thread(own_mongo.restart)
        await wait_for(lambda: status_is(SERVING), timeout=15)
    finally:
        service.stop()
