"""Daily goals (steps, sleep, water) from health metrics: RecordMetrics publishes the day
totals it touched on `fitmesh.health`, the user service moves goals by them exactly as by
workouts (once, with one alert), and the alert reaches the user's WebSocket."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from devstack.servers import Server
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as pb
from fitmesh.user.v1 import user_pb2_grpc
from servicekit.events import HEALTH_STREAM, MetricDayTotal, notify_channel
from tests.clock import DAY, Clock
from tests.helpers import consumed, night, record, register, rpc_error, sample, sign_up, wait_for
from tests.integration.test_gateway import is_problem
from tests.integration.test_goal_events import drain, notifications, progress
from tests.wsclient import Member

Health = health_pb2_grpc.HealthServiceStub
Users = user_pb2_grpc.UserServiceStub
GROUP = "user_service"
STEPS = hpb.METRIC_TYPE_STEPS
SLEEP = hpb.METRIC_TYPE_SLEEP_MINUTES
WATER = hpb.METRIC_TYPE_WATER_ML


@pytest_asyncio.fixture(scope="session")
async def health(activity_service: services.ServiceProcess) -> AsyncIterator[Health]:
    async with activity_service.channel() as channel:
        yield Health(channel)


async def totals_of(redis: aioredis.Redis, user_id: str) -> list[MetricDayTotal]:
    """The day totals published for a user, oldest first."""
    entries: Any = await redis.xrange(HEALTH_STREAM, "-", "+")
    return [
        MetricDayTotal.from_fields(fields)
        for _, fields in entries
        if fields.get("user_id") == user_id
    ]


def figures(events: list[MetricDayTotal]) -> set[tuple[str, dt.date, float]]:
    return {(e.metric_type, e.day, e.total) for e in events}


async def test_record_metrics_publishes_the_day_totals_it_touched(
    health: Health, redis: aioredis.Redis, clock: Clock
) -> None:
    user_id = str(uuid.uuid4())
    yesterday_noon = clock.midnight - dt.timedelta(hours=12)
    await record(health, user_id, sample(STEPS, 2500, clock.earlier_today(60), "s-early"))
    batch = [
        sample(STEPS, 4000, clock.earlier_today(30), "s-1"),
        sample(STEPS, 1500, clock.earlier_today(10), "s-2"),
        sample(STEPS, 700, yesterday_noon, "s-y"),
        night(420, clock.earlier_today(1), "night"),
        sample(WATER, 250, yesterday_noon, "w-1"),
        sample(WATER, 300, yesterday_noon + dt.timedelta(hours=1), "w-2"),
        sample(hpb.METRIC_TYPE_HEART_RATE, 80, clock.earlier_today(5), "hr"),  # no goal counts it
    ]
    await record(health, user_id, *batch)
    events = await totals_of(redis, user_id)
    expected = {
        ("steps", clock.today, 8000.0),  # the whole day, the earlier batch's sample too
        ("steps", clock.today - DAY, 700.0),
        ("sleep_minutes", clock.today, 420.0),  # the night counts on the day it ended
        ("water_ml", clock.today - DAY, 550.0),
    }
    assert figures(events[1:]) == expected
    assert len(events) == 1 + 4  # one per (type, day): the first batch's, then these
    assert figures(events[:1]) == {("steps", clock.today, 2500.0)}

    # A re-sync stores nothing, and publishes the same totals again, with the same ids
    # (a client retrying after UNAVAILABLE relies on it).
    again = await record(health, user_id, *batch)
    assert all(m.duplicate for m in again)
    repeated = (await totals_of(redis, user_id))[5:]
    assert figures(repeated) == expected
    assert {e.event_id for e in repeated} == {e.event_id for e in events[1:]}


async def test_record_metrics_fails_unavailable_without_redis_but_keeps_the_samples(
    activity_service_env: dict[str, str], own_redis: Server, clock: Clock
) -> None:
    service = await services.start(
        "activity_service", {**activity_service_env, "REDIS_URL": own_redis.url}
    )
    user_id = str(uuid.uuid4())
    batch = [sample(STEPS, 3000, clock.earlier_today(5), "kept")]
    try:
        async with service.channel() as channel:
            stub = Health(channel)
            await asyncio.to_thread(own_redis.stop)
            failed = await rpc_error(record(stub, user_id, *batch))
            assert failed.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.to_thread(own_redis.restart)
            [retried] = await record(stub, user_id, *batch)
            assert retried.duplicate  # stored by the failed call
            client = aioredis.from_url(own_redis.url, decode_responses=True)
            try:
                assert figures(await totals_of(client, user_id)) == {("steps", clock.today, 3000.0)}
            finally:
                await client.aclose()
    finally:
        service.stop()


async def goal(stub: Users, user_id: str, kind: Any, target: float) -> pb.Goal:
    tomorrow = (dt.datetime.now(dt.UTC).date() + DAY).isoformat()  # any day ahead will do
    request = pb.CreateGoalRequest(
        user_id=user_id, goal_type=kind, target_value=target, target_date=tomorrow
    )
    return (await stub.CreateGoal(request, timeout=10)).goal


async def settled(redis: aioredis.Redis) -> None:
    await wait_for(lambda: consumed(redis, GROUP, HEALTH_STREAM))


async def test_a_steps_goal_is_achieved_once_across_two_batches(
    user_stub: Users,
    user_service: services.ServiceProcess,
    health: Health,
    redis: aioredis.Redis,
    clock: Clock,
) -> None:
    user = await register(user_stub)
    steps = await goal(user_stub, user.user_id, spb.GOAL_TYPE_DAILY_STEPS, 10_000)
    water = await goal(user_stub, user.user_id, spb.GOAL_TYPE_DAILY_WATER_ML, 2000)
    workouts = await goal(user_stub, user.user_id, spb.GOAL_TYPE_WORKOUTS_COUNT, 3)
    pubsub = redis.pubsub()
    await pubsub.subscribe(notify_channel(user.user_id))

    # Yesterday is before the goal was made: its 50,000 steps do not count.
    yesterday = clock.midnight - dt.timedelta(hours=6)
    first = [
        sample(STEPS, 50_000, yesterday, "y"),
        sample(STEPS, 6000, clock.earlier_today(20), "a"),
    ]
    await record(health, user.user_id, *first)
    await record(health, user.user_id, *first)  # a re-sync: the same totals again
    await settled(redis)
    after_first = await progress(user_stub, user.user_id, steps.goal_id)
    assert (after_first.status, after_first.current_progress) == (spb.GOAL_STATUS_ACTIVE, 6000)

    second = [sample(STEPS, 4000, clock.earlier_today(10), "b")]
    await record(health, user.user_id, *second)
    await record(health, user.user_id, *first, *second)  # and again, every sample
    await settled(redis)

    done = await progress(user_stub, user.user_id, steps.goal_id)
    assert (done.status, done.current_progress) == (spb.GOAL_STATUS_ACHIEVED, 10_000)
    assert done.HasField("achieved_at")
    # Steps move neither the water goal nor a workout goal.
    assert (await progress(user_stub, user.user_id, water.goal_id)).current_progress == 0
    assert (await progress(user_stub, user.user_id, workouts.goal_id)).current_progress == 0
    alerts = await notifications(user_stub, user.user_id)
    assert [(n.kind, n.goal.goal_id) for n in alerts] == [("goal_achieved", steps.goal_id)]
    assert alerts[0].goal.goal_type == spb.GOAL_TYPE_DAILY_STEPS
    received = await drain(pubsub, quiet_for=1.0)
    assert [(m["event"], m["data"]["goal_id"]) for m in received] == [
        ("goal_achieved", steps.goal_id)
    ]
    assert received[0]["data"]["goal_type"] == "daily_steps"


async def test_sleep_and_water_goals_count_their_best_day(
    user_stub: Users,
    user_service: services.ServiceProcess,
    health: Health,
    redis: aioredis.Redis,
    clock: Clock,
) -> None:
    user = await register(user_stub)
    sleep = await goal(user_stub, user.user_id, spb.GOAL_TYPE_DAILY_SLEEP_MINUTES, 420)
    water = await goal(user_stub, user.user_id, spb.GOAL_TYPE_DAILY_WATER_ML, 2000)

    # A night that ended yesterday is yesterday's, before the goal: it does not count.
    await record(
        health,
        user.user_id,
        night(480, clock.midnight - dt.timedelta(minutes=1), "n-0"),
        night(300, clock.earlier_today(2), "n-1"),
        sample(WATER, 800, clock.earlier_today(30), "w-1"),
        sample(WATER, 700, clock.earlier_today(20), "w-2"),
    )
    await settled(redis)
    slept = await progress(user_stub, user.user_id, sleep.goal_id)
    drank = await progress(user_stub, user.user_id, water.goal_id)
    assert (slept.status, slept.current_progress) == (spb.GOAL_STATUS_ACTIVE, 300)
    assert (drank.status, drank.current_progress) == (spb.GOAL_STATUS_ACTIVE, 1500)

    # A nap ending today adds to today's sleep; so does another glass to today's water.
    await record(
        health,
        user.user_id,
        night(120, clock.earlier_today(1), "nap"),
        sample(WATER, 500, clock.earlier_today(5), "w-3"),
    )
    await settled(redis)
    slept = await progress(user_stub, user.user_id, sleep.goal_id)
    drank = await progress(user_stub, user.user_id, water.goal_id)
    assert (slept.status, slept.current_progress) == (spb.GOAL_STATUS_ACHIEVED, 420)
    assert (drank.status, drank.current_progress) == (spb.GOAL_STATUS_ACHIEVED, 2000)
    alerts = await notifications(user_stub, user.user_id)
    assert sorted(n.goal.goal_id for n in alerts) == sorted([sleep.goal_id, water.goal_id])


async def test_a_daily_target_beyond_a_day_is_refused(
    user_stub: Users, user_service: services.ServiceProcess
) -> None:
    user = await register(user_stub)
    for kind, too_much in (
        (spb.GOAL_TYPE_DAILY_STEPS, 100_001),
        (spb.GOAL_TYPE_DAILY_SLEEP_MINUTES, 1441),
        (spb.GOAL_TYPE_DAILY_WATER_ML, 10_001),
    ):
        refused = await rpc_error(goal(user_stub, user.user_id, kind, too_much))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, too_much
    made = await goal(user_stub, user.user_id, spb.GOAL_TYPE_DAILY_STEPS, 8000)
    update = pb.UpdateGoalRequest(user_id=user.user_id, goal_id=made.goal_id, target_value=200_000)
    update.update_mask.paths.append("target_value")
    refused = await rpc_error(user_stub.UpdateGoal(update, timeout=10))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_steps_goal_alert_reaches_the_socket_through_the_gateway(
    api: httpx.AsyncClient, gateway: services.HttpProcess, clock: Clock
) -> None:
    me = await sign_up(api)
    too_much = await api.post(
        f"/users/{me.user_id}/goals",
        headers=me.headers,
        json={"goal_type": "daily_steps", "target_value": 100_001, "target_date": clock.tomorrow},
    )
    fields = [e["field"] for e in is_problem(too_much, 400)["errors"]]
    assert fields == ["target_value"]
    made = await api.post(
        f"/users/{me.user_id}/goals",
        headers=me.headers,
        json={"goal_type": "daily_steps", "target_value": 9000, "target_date": clock.tomorrow},
    )
    assert made.status_code == 201, made.text
    assert (made.json()["goal_type"], made.json()["status"]) == ("daily_steps", "active")
    goal_id = made.json()["goal_id"]
    socket = await Member.connect(gateway.url, me.token, me.user_id)
    try:
        for value, minutes, client_id in ((5000, 40, "morning"), (4000, 5, "evening")):
            body = {
                "metric_type": "steps",
                "value": value,
                "recorded_at": clock.earlier_today(minutes).isoformat(),
                "client_id": client_id,
            }
            posted = await api.post("/health-metrics/", headers=me.headers, json=[body])
            assert posted.status_code == 201, posted.text
        alert = await socket.wait(lambda f: f.get("event") == "goal_achieved", timeout=10)
    finally:
        await socket.close()
    assert (alert["data"]["goal_id"], alert["data"]["status"]) == (goal_id, "achieved")
    assert alert["data"]["current_progress"] == 9000
    got = await api.get(f"/users/{me.user_id}/goals/{goal_id}", headers=me.headers)
    assert got.status_code == 200, got.text
    assert (got.json()["status"], got.json()["current_progress"]) == ("achieved", 9000)
