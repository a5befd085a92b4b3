"""Two user_service replicas dispatching and sending: one delivery per event and
subscription, whatever crashes where — a dispatcher that died before scheduling what it
wrote, a schedule Redis lost, and a replica killed (SIGKILL) with deliveries in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from devstack import services
from devstack.servers import Server
from servicekit.events import WORKOUTS_STREAM
from tests.helpers import consumed, wait_for, workout_event
from tests.webhook_stack import Stack, always, failing_first, receiving, stack
from user_service.webhook_queue import DUE, LEASED
from user_service.webhook_store import delivery_id

PER_DESTINATION = 4


@pytest_asyncio.fixture(scope="module")
async def hooks(postgres: Server, scoring_service: services.ServiceProcess) -> AsyncIterator[Stack]:
    async with stack(
        postgres,
        scoring_service,
        replicas=2,
        WEBHOOK_TIMEOUT_SECONDS="1.5",
        WEBHOOK_LEASE_SECONDS="2",
        WEBHOOK_PER_DESTINATION=str(PER_DESTINATION),
        WEBHOOK_RECONCILE_SECONDS="1",
    ) as built:
        yield built


async def test_what_a_dead_dispatcher_wrote_but_never_scheduled_goes_out_once(
    hooks: Stack,
) -> None:
    with receiving() as receiver:
        me = await hooks.account()
        created = await hooks.subscribe(me, receiver.url("/crash"))
        # A dispatcher reads two events and dies: one after writing its delivery, one before.
        # In one transaction, so the live dispatchers (blocked reading) never see them new.
        events = [workout_event(me.user_id, uuid.uuid4().hex) for _ in range(2)]
        pipe = hooks.redis.pipeline(transaction=True)
        for event in events:
            fields: dict[Any, Any] = event.to_fields()
            pipe.xadd(WORKOUTS_STREAM, fields)
        pipe.xreadgroup("webhooks", "crashed", {WORKOUTS_STREAM: ">"}, count=2)
        *_, read = await pipe.execute()
        assert len(read[0][1]) == 2
        written = delivery_id(events[0].event_id, uuid.UUID(created["id"]))
        hooks.rows(
            "INSERT INTO deliveries (delivery_id, webhook_id, event_id, event_type, payload) "
            "VALUES (%s, %s, %s, 'workout.completed', '{\"type\": \"workout.completed\"}') "
            "RETURNING 1",
            written,
            created["id"],
            events[0].event_id,
        )
        deliveries = await hooks.settled(created["id"], 2)
        assert {d["status"] for d in deliveries} == {"delivered"}
        assert written in {d["delivery_id"] for d in deliveries}
        await asyncio.sleep(1)
        ids = Counter(r.headers["webhook-id"] for r in receiver.posts("/crash"))
        assert ids == Counter({e.event_id: 1 for e in events})
        assert await consumed(hooks.redis, "webhooks")


async def test_a_schedule_redis_lost_is_restored_from_the_database(hooks: Stack) -> None:
    with receiving() as receiver:
        receiver.behaviours["/lost"] = failing_first(1, 503, {"Retry-After": "1"})
        me = await hooks.account()
        created = await hooks.subscribe(me, receiver.url("/lost"))
        await hooks.workout(me.user_id)

        async def retrying() -> bool:
            return len(receiver.posts("/lost")) == 1 and await hooks.redis.zcard(DUE) == 1

        await wait_for(retrying, timeout=10)
        await hooks.redis.delete(DUE)  # as a Redis that restarted empty
        (delivery,) = await hooks.settled(created["id"], 1, timeout=10)
        assert delivery["status"] == "delivered"
        assert delivery["attempts"] == 2
        assert len(receiver.posts("/lost")) == 2


async def test_one_delivery_per_event_and_subscription_with_a_replica_killed_mid_batch(
    hooks: Stack,
) -> None:
    with receiving() as first, receiving() as second:
        for receiver in (first, second):
            receiver.behaviours["/slow"] = always(204, delay=0.2)
        me = await hooks.account()
        hooks_made = [
            await hooks.subscribe(me, receiver.url("/slow")) for receiver in (first, second)
        ]
        events = [await hooks.workout(me.user_id) for _ in range(30)]

        async def both_sending() -> bool:
            # Each replica holds deliveries to each receiver by now (4 slots each).
            return len(first.posts("/slow")) >= 8 and await hooks.redis.zcard(LEASED) >= 2

        await wait_for(both_sending, timeout=15)
        hooks.replicas[0].kill()  # SIGKILL: no drain, its leases and stream entries orphaned
        assert "webhook_attempt" in hooks.replicas[0].log()  # it was sending when killed

        for made in hooks_made:
            deliveries = await hooks.settled(made["id"], 30, timeout=40)
            assert {d["status"] for d in deliveries} == {"delivered"}
            assert sorted(d["event_id"] for d in deliveries) == sorted(events)
        for receiver in (first, second):
            received = Counter(r.headers["webhook-id"] for r in receiver.posts("/slow"))
            assert set(received) == set(events)
            # Only what the killed replica had in flight to this receiver went out twice.
            assert sum(received.values()) - len(events) <= PER_DESTINATION
        assert await consumed(hooks.redis, "webhooks")
        assert await hooks.redis.zcard(LEASED) == 0
