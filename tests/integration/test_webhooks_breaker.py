"""A receiver that is down (it takes connections and never answers) among healthy ones: its
breaker opens for every replica, its deliveries stop costing attempts, and a healthy
receiver's deliveries arrive as fast as they did without it."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from tests.helpers import Account, wait_for
from tests.webhook_stack import PAIR, Receiver, Stack, always, receiving
from user_service.webhook_sender import NOT_SENT

FAILURES = int(PAIR["WEBHOOK_BREAKER_FAILURES"])
PER_DESTINATION = int(PAIR["WEBHOOK_PER_DESTINATION"])


@pytest.fixture
def hooks(webhook_pair: Stack) -> Stack:
    return webhook_pair


async def lags(hooks: Stack, me: Account, receiver: Receiver, path: str, count: int) -> list[float]:
    """Seconds from each of `count` events to its arrival, the events 50 ms apart."""
    already = len(receiver.posts(path))
    sent: dict[str, float] = {}
    for _ in range(count):
        at = time.time()
        sent[await hooks.workout(me.user_id)] = at
        await asyncio.sleep(0.05)

    async def arrived() -> bool:
        return len(receiver.posts(path)) >= already + count

    await wait_for(arrived, timeout=20)
    return [r.at - sent[r.headers["webhook-id"]] for r in receiver.posts(path)[already:]]


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def test_a_dead_receiver_opens_its_breaker_and_slows_no_one_else(hooks: Stack) -> None:
    with receiving() as healthy, receiving() as dead:
        fast, down = await hooks.account(), await hooks.account()
        await hooks.subscribe(fast, healthy.url("/fast"))
        doomed = await hooks.subscribe(down, dead.url("/hang"))  # it answers the challenge
        dead.behaviours["/hang"] = always(204, delay=30)  # then never answers in time

        alone = await lags(hooks, fast, healthy, "/fast", 20)
        for _ in range(40):
            await hooks.workout(down.user_id)
        beside = await lags(hooks, fast, healthy, "/fast", 20)

        # The healthy receiver's lag did not move: relative bounds, with room for a busy
        # two-core machine doing the dead receiver's work besides. Were its deliveries
        # waiting behind the dead one's, each would wait out the 2 s timeout, or several.
        assert statistics.median(beside) <= 2 * statistics.median(alone) + 0.3, (alone, beside)
        assert p90(beside) <= 2 * p90(alone) + 0.6, (alone, beside)

        state = f"fitmesh:webhooks:breaker:{dead_destination(dead)}:pybreaker:state"

        async def opened() -> bool:
            return await hooks.redis.get(state) == "open"

        await wait_for(opened, timeout=15)  # for both replicas: its state is in Redis
        # Before it opened, each replica had at most its slots in flight to the receiver.
        assert len(dead.posts("/hang")) <= len(hooks.replicas) * PER_DESTINATION + FAILURES
        deliveries = await hooks.settled(doomed["id"], 40, timeout=30)
        assert {d["status"] for d in deliveries} == {"dead"}
        unsent = [d for d in deliveries if d["attempts"] == 0]
        assert len(unsent) >= 40 - len(hooks.replicas) * PER_DESTINATION - FAILURES
        assert {d["last_error"] for d in unsent} == {NOT_SENT["breaker_open"]}
        async with httpx.AsyncClient() as client:
            scraped = [
                (await client.get(f"http://127.0.0.1:{r.metrics_port}/metrics")).text
                for r in hooks.replicas
            ]
        assert all('webhook_deferred_total{reason="breaker_open"}' in m for m in scraped)


def dead_destination(receiver: Receiver) -> str:
    return f"127.0.0.1:{receiver.server.server_address[1]}"
