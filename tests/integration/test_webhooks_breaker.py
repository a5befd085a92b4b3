"""A receiver that is down (it takes connections and never answers) among healthy ones: its
breaker opens for every replica, its deliveries stop costing attempts, and a healthy
receiver's deliveries arrive as fast as they did without it."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from devstack import services
from devstack.servers import Server
from tests.helpers import Account, wait_for
from tests.webhook_stack import Receiver, Stack, always, receiving, stack
from user_service.webhook_sender import NOT_SENT

FAILURES, PER_DESTINATION, REPLICAS = 3, 4, 2


@pytest_asyncio.fixture(scope="module")
async def hooks(postgres: Server, scoring_service: services.ServiceProcess) -> AsyncIterator[Stack]:
    async with stack(
        postgres,
        scoring_service,
        replicas=REPLICAS,
        WEBHOOK_BREAKER_FAILURES=str(FAILURES),
        WEBHOOK_BREAKER_RESET_SECONDS="30",
        # Shorter than the reset: what the open breaker holds dies at once, unsent.
        WEBHOOK_HORIZON_SECONDS="10",
        WEBHOOK_TIMEOUT_SECONDS="1",
        WEBHOOK_LEASE_SECONDS="2",
        WEBHOOK_PER_DESTINATION=str(PER_DESTINATION),
        WEBHOOK_CONCURRENCY="16",
    ) as built:
        yield built


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


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


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
        # machine. Were its deliveries waiting behind the dead one's, they would wait its
        # 1 s timeout, again and again.
        assert statistics.median(beside) <= 2 * statistics.median(alone) + 0.1, (alone, beside)
        assert p95(beside) <= 2 * p95(alone) + 0.5, (alone, beside)

        state = await hooks.redis.get(
            f"fitmesh:webhooks:breaker:{dead_destination(dead)}:pybreaker:state"
        )
        assert state == "open"
        # Before it opened, each replica had at most its slots in flight to the receiver.
        assert len(dead.posts("/hang")) <= REPLICAS * PER_DESTINATION + FAILURES
        deliveries = await hooks.settled(doomed["id"], 40, timeout=30)
        assert {d["status"] for d in deliveries} == {"dead"}
        unsent = [d for d in deliveries if d["attempts"] == 0]
        assert len(unsent) >= 40 - REPLICAS * PER_DESTINATION - FAILURES
        assert {d["last_error"] for d in unsent} == {NOT_SENT["breaker_open"]}
        async with httpx.AsyncClient() as client:
            scraped = [
                (await client.get(f"http://127.0.0.1:{r.metrics_port}/metrics")).text
                for r in hooks.replicas
            ]
        assert all('webhook_deferred_total{reason="breaker_open"}' in m for m in scraped)


def dead_destination(receiver: Receiver) -> str:
    return f"127.0.0.1:{receiver.server.server_address[1]}"
