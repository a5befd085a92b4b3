"""Webhook delivery: fast receivers (in this process, answering at once) subscribed to
workout.completed for a few users, workouts logged through both gateways at a fixed rate,
and the lag from each event's time (the body's `timestamp`, when it reached the stream) to
its receipt. The same work runs without, and with one more receiver that never answers
(each attempt to it lasts until the sender's timeout), in alternating rounds (without then
with, then with then without), so a drift of the machine over the section weighs on both
sides alike; each side's figures are over all its rounds' deliveries. The fast receivers'
p99 must not move (issue #17: one dead receiver never slows the others)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn

from bench import seed
from bench.suite import Suite
from bench.tools import percentile, ratio
from devstack.servers import free_port

FAST = 4
# Each user's writes take turns on FerretDB (activity_service/store.py): spread over many
# users, the workouts are a load the suite sustains on two cores, so both runs complete the
# same work and the lag measured is the dispatcher's, not a backlog of refused writes.
USERS = 40
RATE = 5.0  # workouts a second, all users together: each fast receiver gets as many
SECONDS = 30.0
ROUNDS = 2  # of each side: with 600 deliveries a run, a p99 over 1,200 is the 12th worst
WARM_UP_SECONDS = 3.0  # a run first, not reported: connections and code paths warm
DRAIN_SECONDS = 30.0  # the longest wait for the last deliveries after the last workout
EVENT = "workout.completed"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Receiver:
    """An HTTP receiver on uvicorn: it echoes the subscription challenge, and answers a
    delivery with 204 at once, or (hanging) never."""

    hang: bool = False
    port: int = field(default_factory=free_port)
    released: asyncio.Event = field(default_factory=asyncio.Event)  # the hanging ones answer
    lags_ms: dict[str, float] = field(default_factory=dict)  # by webhook-id: first receipt
    last_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            query = parse_qs(scope["query_string"].decode())
            echo = json.dumps({"hub.challenge": query.get("hub.challenge", [""])[0]})
            await _answer(send, 200, echo.encode())
            return
        body = await _body(receive)
        if self.hang:  # until the bench ends (the sender gave up long before)
            await self.released.wait()
            await _answer(send, 503, b"")
            return
        now = time.time()
        event = json.loads(body)
        headers = dict(scope["headers"])
        sent = dt.datetime.fromisoformat(event["timestamp"]).timestamp()
        self.lags_ms.setdefault(headers[b"webhook-id"].decode(), (now - sent) * 1000)
        self.last_at = now
        await _answer(send, 204, b"")


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving(receivers: Sequence[Receiver]) -> AsyncIterator[None]:
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                r,
                host="127.0.0.1",
                port=r.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        for r in receivers
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                raise RuntimeError("a webhook receiver did not start")
            await asyncio.sleep(0.05)
        yield
    finally:
        for r in receivers:
            r.released.set()
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


async def _subscribe(client: httpx.AsyncClient, user: seed.Account, url: str) -> str:
    reply = await client.post(
        "/api/v1/webhooks", headers=user.headers, json={"url": url, "events": [EVENT]}
    )
    reply.raise_for_status()
    return str(reply.json()["id"])


async def _drive(
    clients: Sequence[httpx.AsyncClient], users: Sequence[seed.Account], rate: float, count: int
) -> int:
    """`count` workouts logged at `rate` a second (open loop), the users and gateways taking
    turns; each an hour before the last, so none overlaps. Returns how many failed."""
    now = dt.datetime.now(dt.UTC)
    begin = time.perf_counter()

    async def one(n: int) -> bool:
        start = now - dt.timedelta(hours=n + 1)
        reply = await clients[n % len(clients)].post(
            "/api/v1/workouts",
            headers=users[n % len(users)].headers,
            json={
                "workout_type": "running",
                "start_time": start.isoformat(),
                "end_time": (start + dt.timedelta(minutes=20)).isoformat(),
            },
        )
        return reply.status_code == 201

    sent = []
    for n in range(count):
        await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
        sent.append(asyncio.create_task(one(n)))
    return sum(1 for ok in await asyncio.gather(*sent) if not ok)


async def _drained(fast: Sequence[Receiver], expected: int) -> None:
    """Until every fast receiver has `expected` events, or DRAIN_SECONDS have passed."""
    for _ in range(int(DRAIN_SECONDS * 10)):
        if all(len(r.lags_ms) >= expected for r in fast):
            return
        await asyncio.sleep(0.1)


@dataclass
class Run:
    """What one run's fast receivers got: each delivery's lag, and when the last came."""

    workouts: int
    failed: int
    lags_ms: list[float]
    per_receiver: list[list[float]]
    seconds: float  # from the first workout to the last receipt


def _figures(runs: Sequence[Run]) -> dict[str, Any]:
    """One side's figures over its runs' deliveries together."""
    lags = [lag for r in runs for lag in r.lags_ms]
    receivers = zip(*(r.per_receiver for r in runs), strict=True)
    span = sum(r.seconds for r in runs)
    return {
        "workouts": sum(r.workouts for r in runs),
        "workout_errors": sum(r.failed for r in runs),
        "rounds": len(runs),
        "p50_ms": round(percentile(lags, 50), 2),
        "p95_ms": round(percentile(lags, 95), 2),
        "p99_ms": round(percentile(lags, 99), 2),
        "max_ms": round(max(lags, default=0.0), 2),
        "per_round_p99_ms": [round(percentile(r.lags_ms, 99), 2) for r in runs],
        "per_receiver_p99_ms": [
            round(percentile([lag for run in each for lag in run], 99), 2) for each in receivers
        ],
        "deliveries_expected": sum((r.workouts - r.failed) * len(r.per_receiver) for r in runs),
        "deliveries_received": len(lags),
        "deliveries_per_second": round(len(lags) / span, 1) if span > 0 else None,
    }


async def _run(
    suite: Suite,
    users: Sequence[seed.Account],
    hanging: bool,
    rate: float,
    seconds: float,
) -> Run:
    """One run: fresh receivers, every user subscribed to each, the workouts, the drain; the
    subscriptions are deleted after, so nothing of it reaches the next run."""
    fast = [Receiver() for _ in range(FAST)]
    receivers = [*fast, *([Receiver(hang=True)] if hanging else [])]
    count = int(rate * seconds)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serving(receivers))
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=g.url, timeout=30))
            for g in suite.gateways
        ]
        made = [(u, await _subscribe(clients[0], u, r.url)) for u in users for r in receivers]
        began = time.time()
        failed = await _drive(clients, users, rate, count)
        await _drained(fast, count - failed)
        last = max((r.last_at for r in fast), default=began)
        for user, webhook_id in made:  # the hanging one's retries stop here
            await clients[0].delete(f"/api/v1/webhooks/{webhook_id}", headers=user.headers)
    per_receiver = [list(r.lags_ms.values()) for r in fast]
    lags = [lag for each in per_receiver for lag in each]
    return Run(count, failed, lags, per_receiver, max(0.0, last - began))


async def webhooks(
    suite: Suite, users: int, rate: float, seconds: float, rounds: int = ROUNDS
) -> dict[str, Any]:
    accounts = await seed.accounts(suite.database_url, users, "hook")
    await _run(suite, accounts, False, rate, min(seconds, WARM_UP_SECONDS))
    runs: dict[bool, list[Run]] = {False: [], True: []}
    for n in range(rounds):
        for hanging in (False, True) if n % 2 == 0 else (True, False):
            runs[hanging].append(await _run(suite, accounts, hanging, rate, seconds))
    without, with_hanging = _figures(runs[False]), _figures(runs[True])
    return {
        "fast_receivers": FAST,
        "users": users,
        "rate": rate,
        "seconds": seconds,
        "rounds": rounds,
        "without_hanging": without,
        "with_hanging": with_hanging,
        "fast_p99_ms": with_hanging["p99_ms"],
        "fast_p99_ratio": ratio(with_hanging["p99_ms"], without["p99_ms"]),
        "deliveries_per_second": with_hanging["deliveries_per_second"],
    }


def row(w: dict[str, Any]) -> tuple[str, str, str]:
    """The summary table's row: what, fitmesh's figure, the baseline."""
    on, off = w["with_hanging"], w["without_hanging"]
    return (
        f"Webhooks: {w['fast_receivers']} fast receivers subscribed to workout.completed for"
        f" {w['users']} users, {w['rate']:g} workouts/s for {w['seconds']:g} s through both"
        f" gateways, {w.get('rounds', 1)} alternating rounds a side; lag from the event's time"
        " to receipt, with one more receiver that never answers vs the same work without it",
        f"**fast p99 {on['p99_ms']} ms = x{w['fast_p99_ratio']}** (p50 {on['p50_ms']} ms),"
        f" {on['deliveries_per_second']} deliveries/s,"
        f" {on['deliveries_received']} of {on['deliveries_expected']}",
        f"without it: p99 {off['p99_ms']} ms (p50 {off['p50_ms']} ms),"
        f" {off['deliveries_received']} of {off['deliveries_expected']}",
    )


def loads(w: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(measure, load, figures) for the report's every-load table."""
    return [
        (
            "webhooks",
            f"{w['rate']:g} workouts/s, {label}",
            {
                **w[key],
                "achieved_rps": w[key]["deliveries_per_second"],
                "errors": w[key]["workout_errors"],
            },
        )
        for key, label in (("without_hanging", "fast only"), ("with_hanging", "one hanging"))
    ]
