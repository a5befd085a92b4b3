"""Goal progress from `workout.completed`: exactly-once effect, one alert, crash recovery,
and a database restart that loses no acknowledged write."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from devstack.servers import Server, running, start_postgres
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as pb
from fitmesh.user.v1 import user_pb2_grpc
from gateway.cache import Cache, Seen, redis_breaker
from servicekit.cachekeys import GENERATION, entry_key, goals_key, version_key
from servicekit.events import HEALTH_STREAM, WORKOUTS_STREAM, WorkoutCompleted, notify_channel
from tests.conftest import fresh_database
from tests.helpers import consumed, register, unique, wait_for, workout_event

Stub = user_pb2_grpc.UserServiceStub
TOMORROW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
GROUP = "user_service"


async def goal(stub: Stub, user_id: str, kind: Any, target: float) -> pb.Goal:
    request = pb.CreateGoalRequest(
        user_id=user_id, goal_type=kind, target_value=target, target_date=TOMORROW
    )
    reply = await stub.CreateGoal(request, timeout=10)
    return reply.goal


async def progress(stub: Stub, user_id: str, goal_id: str) -> pb.Goal:
    reply = await stub.GetGoal(pb.GetGoalRequest(user_id=user_id, goal_id=goal_id), timeout=10)
    return reply.goal


async def notifications(stub: Stub, user_id: str) -> list[pb.Notification]:
    reply = await stub.ListNotifications(
        pb.ListNotificationsRequest(user_id=user_id, page_size=100), timeout=10
    )
    return list(reply.notifications)


async def drain(pubsub: aioredis.client.PubSub, quiet_for: float) -> list[dict[str, Any]]:
    """Every message published until the channel has been quiet for a while."""
    received = []
    loop = asyncio.get_running_loop()
    last = loop.time()
    while loop.time() - last < quiet_for:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            received.append(json.loads(message["data"]))
            last = loop.time()
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    return received


async def send(redis: aioredis.Redis, event: WorkoutCompleted) -> str:
    fields: dict[Any, Any] = event.to_fields()
    return str(await redis.xadd(WORKOUTS_STREAM, fields))


async def test_event_delivered_twice_counts_once_and_alerts_once(
    user_stub: Stub, user_service: services.ServiceProcess, redis: aioredis.Redis
) -> None:
    user = await register(user_stub)
    count = await goal(user_stub, user.user_id, spb.GOAL_TYPE_WORKOUTS_COUNT, 2)
    minutes = await goal(user_stub, user.user_id, spb.GOAL_TYPE_INTENSITY_MINUTES, 1000)
    pubsub = redis.pubsub()
    await pubsub.subscribe(notify_channel(user.user_id))

    first = workout_event(user.user_id)
    await send(redis, first)
    await send(redis, first)  # the same event again, as a redelivery would bring it
    await wait_for(lambda: consumed(redis, GROUP))
    assert (await progress(user_stub, user.user_id, count.goal_id)).current_progress == 1
    assert (await progress(user_stub, user.user_id, minutes.goal_id)).current_progress == 60

    second = workout_event(user.user_id)
    for event in (second, second, workout_event(user.user_id)):
        await send(redis, event)
    await wait_for(lambda: consumed(redis, GROUP))

    achieved = await progress(user_stub, user.user_id, count.goal_id)
    assert (achieved.status, achieved.current_progress) == (spb.GOAL_STATUS_ACHIEVED, 2)
    assert achieved.HasField("achieved_at")
    assert (await progress(user_stub, user.user_id, minutes.goal_id)).current_progress == 180
    alerts = await notifications(user_stub, user.user_id)
    assert [(n.kind, n.goal.goal_id) for n in alerts] == [("goal_achieved", count.goal_id)]

    received = await drain(pubsub, quiet_for=1.0)
    assert [(m["event"], m["data"]["goal_id"]) for m in received] == [
        ("goal_achieved", count.goal_id)
    ]
    assert received[0]["data"]["status"] == "achieved"


async def test_goals_a_gateway_loaded_before_an_event_are_not_stored_after_it(
    user_stub: Stub, user_service: services.ServiceProcess, redis: aioredis.Redis
) -> None:
    """A gateway read that loaded the goals before an event moved them, and stores its
    answer after the event's forget, stores nothing: the forget moved the entry's version
    on, and the put checks the version its read found."""
    user = await register(user_stub)
    await goal(user_stub, user.user_id, spb.GOAL_TYPE_WORKOUTS_COUNT, 2)
    name = goals_key(user.user_id)
    await redis.set(GENERATION, "1", nx=True)  # as a gateway's first cached read starts it
    generation = str(await redis.get(GENERATION))
    seen = Seen(generation, str(await redis.get(version_key(name)) or ""))  # the gateway's read
    await send(redis, workout_event(user.user_id))
    await wait_for(lambda: consumed(redis, GROUP))

    cache = Cache(redis, redis_breaker(3, 30, 10), 1.0)
    await cache.put(name, seen, b'{"items": []}', 60, "page:")  # the gateway's late put
    assert not await redis.hexists(entry_key(name, generation), "page:")
    fresh = Seen(generation, str(await redis.get(version_key(name))))
    await cache.put(name, fresh, b'{"items": []}', 60, "page:")  # a read after the event
    assert await redis.hexists(entry_key(name, generation), "page:")


async def test_malformed_event_is_set_aside(
    user_stub: Stub, user_service: services.ServiceProcess, redis: aioredis.Redis
) -> None:
    entry = await redis.xadd(WORKOUTS_STREAM, {"type": "workout.completed", "user_id": "nobody"})
    await wait_for(lambda: consumed(redis, GROUP))
    dead: Any = await redis.xrange(f"{WORKOUTS_STREAM}.dead", "-", "+")
    assert any(fields.get("user_id") == "nobody" for _, fields in dead), entry
    assert user_service.proc.poll() is None


@pytest_asyncio.fixture
async def own_service(
    user_service_env: dict[str, str], postgres: Server, redis_server: Server
) -> AsyncIterator[dict[str, str]]:
    """Settings for a user service of a test's own: its own database and consumer group,
    so crashing it disturbs no other test."""
    group = unique("group")
    yield {**user_service_env, "DATABASE_URL": fresh_database(postgres), "CONSUMER_GROUP": group}
    client = aioredis.from_url(redis_server.url)
    for stream in (WORKOUTS_STREAM, HEALTH_STREAM):
        await client.xgroup_destroy(stream, group)
    await client.aclose()


async def test_entry_left_pending_by_a_crashed_consumer_is_claimed_once(
    own_service: dict[str, str], redis: aioredis.Redis
) -> None:
    group = own_service["CONSUMER_GROUP"]
    first = await services.start("user_service", own_service)
    async with first.channel() as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        user = await register(stub)
        count = await goal(stub, user.user_id, spb.GOAL_TYPE_WORKOUTS_COUNT, 5)
        event = workout_event(user.user_id)
        await send(redis, event)
        await wait_for(lambda: consumed(redis, group))
    assert first.stop() == 0

    # The state a crash between commit and acknowledgement leaves behind: the event's
    # effect is committed, and a delivery of it sits pending with a consumer now gone.
    await send(redis, event)
    await redis.xreadgroup(group, "crashed-consumer", {WORKOUTS_STREAM: ">"}, count=1)
    pending = await redis.xpending(WORKOUTS_STREAM, group)
    assert pending["pending"] == 1

    second = await services.start("user_service", own_service)
    try:
        await wait_for(lambda: consumed(redis, group))
        async with second.channel() as channel:
            stub = user_pb2_grpc.UserServiceStub(channel)
            assert (await progress(stub, user.user_id, count.goal_id)).current_progress == 1
    finally:
        second.stop()


async def test_consumer_killed_mid_stream_loses_and_doubles_nothing(
    own_service: dict[str, str], redis: aioredis.Redis
) -> None:
    group, total = own_service["CONSUMER_GROUP"], 150
    service = await services.start("user_service", own_service)
    channel = service.channel()
    stub = user_pb2_grpc.UserServiceStub(channel)
    user = await register(stub)
    count = await goal(stub, user.user_id, spb.GOAL_TYPE_WORKOUTS_COUNT, total)
    pipe = redis.pipeline(transaction=False)
    for _ in range(total):
        pipe.xadd(WORKOUTS_STREAM, workout_event(user.user_id).to_fields())  # type: ignore[arg-type]
    await pipe.execute()

    async def started() -> bool:
        return (await progress(stub, user.user_id, count.goal_id)).current_progress >= 1

    await wait_for(started, interval=0.005)
    service.kill()  # SIGKILL: no drain, whatever was in flight is cut off
    await channel.close()
    at_kill = await _progress_in_db(own_service["DATABASE_URL"], count.goal_id)

    restarted = await services.start("user_service", own_service)
    try:
        await wait_for(lambda: consumed(redis, group), timeout=60)
        async with restarted.channel() as channel:
            stub = user_pb2_grpc.UserServiceStub(channel)
            final = await progress(stub, user.user_id, count.goal_id)
            assert (final.current_progress, final.status) == (total, spb.GOAL_STATUS_ACHIEVED)
            assert len(await notifications(stub, user.user_id)) == 1
    finally:
        restarted.stop()
    assert 1 <= at_kill <= total


async def _progress_in_db(url: str, goal_id: str) -> float:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT current_progress FROM goals WHERE goal_id = %s", (goal_id,)
        )
        row = await cur.fetchone()
    assert row is not None
    return float(row[0])


async def test_database_restart_loses_no_acknowledged_write(
    user_service_env: dict[str, str],
) -> None:
    with running(start_postgres) as db:
        env = {**user_service_env, "DATABASE_URL": fresh_database(db)}
        service = await services.start("user_service", env)
        acknowledged: list[str] = []
        failures: list[grpc.StatusCode] = []
        stop = asyncio.Event()

        async def writer(stub: Stub) -> None:
            while not stop.is_set():
                try:
                    user = await register(stub)
                    acknowledged.append(user.user_id)
                except grpc.aio.AioRpcError as exc:
                    failures.append(exc.code())
                    await asyncio.sleep(0.05)

        try:
            async with service.channel() as channel:
                stub = user_pb2_grpc.UserServiceStub(channel)
                writers = [asyncio.create_task(writer(stub)) for _ in range(4)]
                await asyncio.sleep(1.0)
                before = len(acknowledged)
                await asyncio.to_thread(db.stop)
                await wait_for(lambda: _health_is(service, "NOT_SERVING"), timeout=10)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(db.restart)
                await wait_for(lambda: _health_is(service, "SERVING"), timeout=20)
                await asyncio.sleep(1.0)
                stop.set()
                await asyncio.gather(*writers)
                for user_id in acknowledged:
                    await stub.GetUser(pb.GetUserRequest(user_id=user_id), timeout=10)
        finally:
            service.stop()
        assert before > 0
        assert len(acknowledged) > before  # writes resumed after the restart
        # Calls made during the outage either waited for the database or were refused as
        # UNAVAILABLE (the client may retry); none failed in another way.
        assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}


async def _health_is(service: services.ServiceProcess, name: str) -> bool:
    from grpc_health.v1 import health_pb2

    try:
        status = await services.health_status(service.address, "fitmesh.user.v1.UserService")
    except grpc.aio.AioRpcError:
        return False
    return bool(status == health_pb2.HealthCheckResponse.ServingStatus.Value(name))
