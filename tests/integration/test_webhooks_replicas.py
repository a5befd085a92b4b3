"""Two user_service replicas dispatching and sending: one delivery per event and
subscription, whatever crashes where — a dispatcher that died before scheduling what it
wrote, a schedule Redis lost, and a replica killed (SIGKILL) with deliveries in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from servicekit.events import WORKOUTS_STREAM
from tests.helpers import consumed, wait_for, workout_event
from tests.webhook_stack import PAIR, Stack, always, failing_first, receiving
from user_service.webhook_queue import DUE, LEASED
from user_service.webhook_store import delivery_id

PER_DESTINATION = int(PAIR["WEBHOOK_PER_DESTINATION"])


@pytest.fixture
def hooks(webhook_pair: Stack) -> Stack:
    return webhook_pair


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
    # A third replica joins the two, and is the one killed: the shared stack stays whole.
    doomed = await hooks.add_replica()
    with receiving() as first, receiving() as second:
        for receiver in (first, second):
            receiver.behaviours["/slow"] = always(204, delay=0.2)
        me = await hooks.account()
        made = [await hooks.subscribe(me, r.url("/slow")) for r in (first, second)]
        events = [await hooks.workout(me.user_id) for _ in range(40)]

        async def doomed_sending() -> bool:
            return "webhook_attempt" in doomed.log() and await hooks.redis.zcard(LEASED) >= 2

        await wait_for(doomed_sending, timeout=15)
        doomed.kill()  # SIGKILL: no drain, its leases and stream entries orphaned

        for webhook in made:
            deliveries = await hooks.settled(webhook["id"], len(events), timeout=40)
            assert {d["status"] for d in deliveries} == {"delivered"}
            assert sorted(d["event_id"] for d in deliveries) == sorted(events)
        for receiver in (first, second):
            received = Counter(r.headers["webhook-id"] for r in receiver.posts("/slow"))
            assert set(received) == set(events)
            # Only what the killed replica had in flight to this receiver went out twice.
            assert sum(received.values()) - len(events) <= PER_DESTINATION
        assert await consumed(hooks.redis, "webhooks")
        assert await hooks.redis.zcard(LEASED) == 0
    hooks.replicas.remove(doomed)
