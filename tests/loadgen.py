"""Steady load through the gateway for fault tests, with every answer's time and status.

Open loop: the n-th request goes at n / RATE whatever came back, so a request that hangs
does not slow the load down and hide itself. The requests cycle through OPS (workout logs
with an Idempotency-Key, a goal, reads of statistics and workouts) and the users in turn;
with one user fewer than OPS, each user sends every kind, its writes spread out in time."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import Account

RATE = 24  # requests a second
OPS = ("log", "statistics", "log", "workouts", "goal", "statistics", "log", "workouts")
USERS = len(OPS) - 1
PAGE = 5  # workouts a list reads


@dataclass
class Sample:
    op: str
    sent: float  # seconds since the load began
    seconds: float
    status: int  # 0: no answer at all
    detail: str = ""  # a failure's problem detail


@dataclass
class LogWrite:
    account: Account
    key: str  # its Idempotency-Key
    body: dict[str, Any]
    duration: float
    session_id: str | None = None  # once acknowledged


@dataclass
class GoalWrite:
    account: Account
    goal_id: str | None = None  # once acknowledged


def failed(sample: Sample) -> bool:
    """A server error, or no answer at all."""
    return sample.status == 0 or sample.status >= 500


def p99(samples: list[Sample]) -> float:
    return statistics.quantiles([s.seconds for s in samples], n=100, method="inclusive")[98]


def bursts(failures: list[Sample], gap: float = 1.5) -> list[list[Sample]]:
    """Failures grouped by time sent, a new group after `gap` seconds without one."""
    groups: list[list[Sample]] = []
    for s in sorted(failures, key=lambda s: s.sent):
        if groups and s.sent - groups[-1][-1].sent <= gap:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def latency(name: str, phase: list[Sample]) -> str:
    if len(phase) < 2:
        return f"{name}: {len(phase)} requests"
    return (
        f"{name}: {len(phase)} requests, {sum(failed(s) for s in phase)} failed, p50 "
        f"{statistics.median(s.seconds for s in phase):.3f} s, p99 {p99(phase):.3f} s, "
        f"max {max(s.seconds for s in phase):.3f} s"
    )


@dataclass
class Load:
    api: httpx.AsyncClient
    accounts: list[Account]
    began: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    logs: list[LogWrite] = field(default_factory=list)
    goals: list[GoalWrite] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.began

    async def until(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))

    async def seed(self) -> None:
        """A page of workouts for every user, so a list costs from the start what it
        costs later."""

        async def history(me: Account) -> None:
            for _ in range(PAGE):
                write = self._next_log(me)
                # Before any fault: a log that missed its deadline on a busy machine is sent
                # again with its key (that is what the key is for), after the breaker's
                # cool-down if it opened.
                for _ in range(15):
                    response = await self.log(write)
                    if response.status_code < 500:
                        break
                    await asyncio.sleep(2.0)
                assert response.status_code == 201, response.text

        await asyncio.gather(*(history(me) for me in self.accounts))

    def start(self, done: asyncio.Event) -> asyncio.Task[None]:
        """Send from now until `done` is set; the task ends when every request sent is
        answered."""
        self.began = time.monotonic()
        return asyncio.create_task(self._run(done))

    async def _run(self, done: asyncio.Event) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        sent = 0
        while not done.is_set():
            op, me = OPS[sent % len(OPS)], self.accounts[sent % len(self.accounts)]
            task = asyncio.create_task(self._timed(op, self._request(op, me)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
            await self.until(sent / RATE)
        await asyncio.gather(*in_flight)

    async def _request(self, op: str, me: Account) -> httpx.Response:
        if op == "log":
            return await self.log(self._next_log(me))
        if op == "goal":
            return await self._goal(me)
        params = {"limit": PAGE} if op == "workouts" else None
        return await self.api.get(f"/users/{me.user_id}/{op}", headers=me.headers, params=params)

    async def _timed(self, op: str, call: Awaitable[httpx.Response]) -> None:
        sent = self.now()
        try:
            answer = await call
        except httpx.HTTPError as exc:
            self.samples.append(Sample(op, sent, self.now() - sent, 0, repr(exc)))
            return
        detail = "" if answer.is_success else _detail(answer)
        self.samples.append(Sample(op, sent, self.now() - sent, answer.status_code, detail))

    def _next_log(self, me: Account) -> LogWrite:
        write = _log_write(me, sum(w.account is me for w in self.logs))
        self.logs.append(write)
        return write

    async def log(self, write: LogWrite) -> httpx.Response:
        """Send a log (again), with its key; an acknowledgement sets its session id."""
        headers = {**write.account.headers, "Idempotency-Key": write.key}
        answer = await self.api.post("/workouts", headers=headers, json=write.body)
        if answer.status_code == 201:
            write.session_id = answer.json()["session_id"]
        return answer

    async def _goal(self, me: Account) -> httpx.Response:
        goal = GoalWrite(me)
        self.goals.append(goal)
        body = {"goal_type": "workouts_count", "target_value": 1000, "target_date": "2030-12-31"}
        answer = await self.api.post(f"/users/{me.user_id}/goals", headers=me.headers, json=body)
        if answer.status_code == 201:
            goal.goal_id = answer.json()["goal_id"]
        return answer


def _detail(answer: httpx.Response) -> str:
    if "json" in answer.headers.get("content-type", ""):
        return str(answer.json().get("detail"))
    return answer.text[:200]


def _log_write(me: Account, n: int) -> LogWrite:
    """A user's n-th workout: 10-46 minutes at 6:00, n + 1 days ago."""
    minutes = 10 + n % 37
    start = dt.datetime.now(dt.UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=1 + n)
    body = {
        "workout_type": ("running", "cycling", "rowing", "walking")[n % 4],
        "start_time": start.isoformat(),
        "end_time": (start + dt.timedelta(minutes=minutes)).isoformat(),
    }
    return LogWrite(me, uuid.uuid4().hex, body, minutes * 60.0)
