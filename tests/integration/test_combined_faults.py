"""Issue #14's combined fault: under a steady load of writes and reads, one replica of each
service is killed (and started again where it was, as the supervisor does), the other
replica of each is stopped (SIGSTOP) for a few seconds, and Redis restarts having lost its
data. Afterwards every acknowledged write is there exactly once, retries of the failed ones
with their Idempotency-Key double nothing, 5xx answers fell only inside a bounded window
around each fault (WINDOW_BEFORE, WINDOW_AFTER) and only where the contract allows one (no
retryable call is lost with a replica), latency is back to its level before the faults
within 10 s of the last one, and workout events move goals again.

The stack is the test's own (two replicas of each service, one gateway over them, its own
Redis), so nothing it kills is shared. The gateway keeps its production deadline and
breaker settings: the bounds below are derived from them. The load is open-loop
(tests/loadgen.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import httpx
import pytest_asyncio

from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.user.v1 import user_pb2 as upb
from fitmesh.user.v1 import user_pb2_grpc
from gateway.errors import unavailable
from tests.helpers import Account, Replica, sign_up, wait_for
from tests.loadgen import RATE, USERS, Load, Sample, bursts, failed, latency, p99

WARM_UP = 8.0  # seconds of load before the first fault: the latency to come back to
KILL_GAP = 2.0  # seconds between the kills of the three services
STOPPED = 4.0  # seconds each stopped replica stays stopped
STOP_GAP = 1.0  # seconds between the stops
REDIS_DOWN = 2.0  # seconds Redis is away between its stop and its start
SETTLED = 10.0  # latency is back to normal this long after the last fault cleared ...
SETTLED_SPAN = 10.0  # ... judged over a window this long

# The window in which a fault may cost 5xx answers, from the gateway's settings. A request
# sent up to a deadline before a fault began may be in flight when it does. While the fault
# lasts (a killed replica until the one started again serves, a stopped one until it
# continues), requests may fail: those in flight on the replica that cannot be retried (a
# killed one's are found out at once, a stopped one's within 2 s: a keepalive ping sent
# after 1 s without a byte goes 1 s unanswered, servicekit.channels), and those the
# survivor, alone and sharing two cores with a replica starting up, leaves past their
# deadline. Three such failures open the backend's breaker. After the fault, a call sent
# before it cleared may still fail within its deadline, and the breaker the last failure
# opened fails fast for its cool-down: 3 + 10 s, plus 2 s for a machine shared with other
# tests.
DEADLINE = 3.0  # BACKEND_DEADLINE_SECONDS
COOLDOWN = 10.0  # BREAKER_COOLDOWN_SECONDS
WINDOW_BEFORE = DEADLINE
WINDOW_AFTER = DEADLINE + COOLDOWN + 2.0
# "Normal": within this factor of the p99 before the faults, or under the floor. A request
# that still met a hung or dead replica would wait out its detection (2 s) or a deadline
# (3 s): a p99 under 1 s holds none. On this two-core machine shared with other tests, the
# p99 before the faults measured 0.1-1.4 s and 10 s after the last one 0.25-0.7 s.
P99_FACTOR = 4.0
P99_FLOOR = 1.0  # seconds
# A log cut off mid-way by a kill or a stop is finished by another replica's recovery once
# its marker is due (SETTLE_GRACE_SECONDS, 30 s after it began), and its retry is answered
# before that: the totals may lag an acknowledged workout that long.
RECOVERED = 30.0 + 5.0
# An open breaker's fast answer, or a backend's report that one it calls is away.
FAST_FAILS = {
    unavailable(name, 1).detail for name in ("user_service", "activity_service", "scoring_service")
}


@dataclass
class Stack:
    redis: Server
    replicas: dict[str, list[Replica]]
    gateway: services.HttpProcess


@pytest_asyncio.fixture
async def stack(
    own_redis: Server,
    gateway_env: dict[str, str],
    user_service_env: dict[str, str],
    activity_service_env: dict[str, str],
) -> AsyncIterator[Stack]:
    redis = {"REDIS_URL": own_redis.url}
    # Its own database too: the session's has every other test's workouts in it, which a
    # FerretDB query that is not pushed down reads through.
    activity = {**activity_service_env, "MONGODB_DATABASE": f"faults_{uuid.uuid4().hex[:8]}"}
    replicas: dict[str, list[Replica]] = {}
    gateway = None
    try:
        await _start_pair(replicas, "scoring_service", {})
        scoring = {"SCORING_SERVICE_ADDRS": _addresses(replicas["scoring_service"])}
        # Both pairs end before the teardown, so none started late escapes it.
        started = await asyncio.gather(
            _start_pair(replicas, "user_service", {**user_service_env, **redis, **scoring}),
            _start_pair(replicas, "activity_service", {**activity, **redis, **scoring}),
            return_exceptions=True,
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        gateway = await services.start_http(
            "gateway",
            {
                **gateway_env,
                **redis,
                **scoring,
                "USER_SERVICE_ADDRS": _addresses(replicas["user_service"]),
                "ACTIVITY_SERVICE_ADDRS": _addresses(replicas["activity_service"]),
            },
        )
        yield Stack(own_redis, replicas, gateway)
    finally:
        if gateway:
            gateway.stop()
        every = [r for group in replicas.values() for r in group]
        for replica in every:
            with contextlib.suppress(ProcessLookupError):
                os.kill(replica.pid, signal.SIGCONT)  # a failed test may leave one stopped
            replica.process.terminate()
        for replica in every:
            replica.process.stop()


async def _start_pair(replicas: dict[str, list[Replica]], module: str, env: dict[str, str]) -> None:
    """Two replicas of a service, started side by side; each one started is kept for the
    teardown even when the other fails."""
    started = await asyncio.gather(
        *(Replica.start(module, env) for _ in "ab"), return_exceptions=True
    )
    replicas[module] = [r for r in started if isinstance(r, Replica)]
    for outcome in started:
        if isinstance(outcome, BaseException):
            raise outcome


def _addresses(replicas: list[Replica]) -> str:
    return ",".join(r.process.address for r in replicas)


@dataclass
class Fault:
    name: str
    began: float  # seconds since the load began
    cleared: float = 0.0

    def covers(self, sent: float) -> bool:
        return self.began - WINDOW_BEFORE <= sent <= self.cleared + WINDOW_AFTER


async def inflict(stack: Stack, load: Load) -> list[Fault]:
    """Every fault in turn from WARM_UP on, each with when it began and when it cleared:
    the kills (each replica started again at once), then the stops, then Redis."""
    await load.until(WARM_UP)
    faults, recoveries = [], []
    for module, (first, _) in stack.replicas.items():
        killed = Fault(f"{module} replica killed", load.now())
        first.process.kill()
        recoveries.append(_clear(killed, load, first.restart()))
        faults.append(killed)
        await load.until(killed.began + KILL_GAP)
    await asyncio.gather(*recoveries)
    recoveries = []
    for module, (_, second) in stack.replicas.items():
        stopped = Fault(f"{module} replica stopped", load.now())
        os.kill(second.pid, signal.SIGSTOP)
        recoveries.append(_clear(stopped, load, _resume(second.pid)))
        faults.append(stopped)
        await load.until(stopped.began + STOP_GAP)
    await asyncio.gather(*recoveries)
    restarted = Fault("redis restarted without its data", load.now())
    await _clear(restarted, load, _restart_empty(stack.redis))
    return [*faults, restarted]


async def _clear(fault: Fault, load: Load, recovery: Awaitable[None]) -> None:
    await recovery
    fault.cleared = load.now()


async def _resume(pid: int) -> None:
    await asyncio.sleep(STOPPED)
    os.kill(pid, signal.SIGCONT)


async def _restart_empty(redis: Server) -> None:
    """Stop Redis, lose what it kept (as a Redis without persistence does: idempotency
    records, cache, streams and their groups), and start it again on the same port."""
    await asyncio.to_thread(redis.stop)
    assert redis.workdir is not None
    for path in redis.workdir.iterdir():
        if path.is_dir():  # appendonlydir: what a restart would replay
            await asyncio.to_thread(shutil.rmtree, path)
        elif path != redis.log:
            path.unlink()
    await asyncio.sleep(REDIS_DOWN)
    await asyncio.to_thread(redis.restart)


async def test_faults_under_load_lose_and_double_nothing(stack: Stack) -> None:
    # Idle connections are dropped before uvicorn's 5 s keep-alive closes them, so none is
    # reused just as the server closes it (a failure no fault caused).
    limits = httpx.Limits(max_connections=200, keepalive_expiry=2.0)
    url = f"{stack.gateway.url}/api/v1"
    async with httpx.AsyncClient(base_url=url, timeout=15, limits=limits) as api:
        load = Load(api, [await sign_up(api) for _ in range(USERS)])
        await load.seed()
        done = asyncio.Event()
        running = load.start(done)
        try:
            faults = await inflict(stack, load)
            last = max(f.cleared for f in faults)
            await load.until(last + SETTLED + SETTLED_SPAN)
        finally:
            done.set()
            await running
        report = _report(load, faults, last)
        print(report)
        _check_failures(load.samples, faults, report)
        _check_latency_settled(load, last, report)
        await _check_writes(stack, api, load)
        await _check_events_flow(api, load.accounts[0])


def _check_failures(samples: list[Sample], faults: list[Fault], report: str) -> None:
    unexpected = [s for s in samples if s.status not in (200, 201) and not failed(s)]
    assert not unexpected, f"answers no fault explains: {unexpected[:5]}\n{report}"
    outside = [s for s in samples if failed(s) and not any(f.covers(s.sent) for f in faults)]
    assert not outside, f"{len(outside)} failed outside every window: {outside[:5]}\n{report}"
    lost = [s for s in samples if failed(s) and not _excused(s)]
    assert not lost, f"{len(lost)} calls lost with a replica: {lost[:5]}\n{report}"


def _excused(failure: Sample) -> bool:
    """What a fault may cost: a goal create in flight on the replica (CreateGoal cannot be
    retried), a call past its deadline, or a fast 503 while a breaker is open. Reads and logs
    in flight on a replica that dies or hangs are retried on the other one."""
    return failure.op == "goal" or failure.status == 504 or failure.detail in FAST_FAILS


def _check_latency_settled(load: Load, last: float, report: str) -> None:
    samples = load.samples
    before = [s for s in samples if s.sent < WARM_UP]
    settled = [s for s in samples if last + SETTLED <= s.sent < last + SETTLED + SETTLED_SPAN]
    assert len(settled) >= RATE * SETTLED_SPAN * 0.8, report
    assert not any(failed(s) for s in before + settled), report
    assert p99(settled) < max(P99_FLOOR, P99_FACTOR * p99(before)), report


async def _retry(load: Load, me: Account) -> None:
    """Send again, with its key and body, every log of the user that failed, until it is
    acknowledged; and every tenth one that was (Redis lost the records of those sent before
    its restart: the service's record of the key answers)."""
    logs = [w for w in load.logs if w.account is me]
    for write in [w for w in logs if not w.session_id] + [w for w in logs if w.session_id][::10]:
        first = write.session_id
        for _ in range(10):
            if (await load.log(write)).status_code == 201:
                break
            await asyncio.sleep(0.5)
        assert write.session_id, f"{write} never acknowledged"
        assert first in (None, write.session_id), f"a repeat of {write} answered another workout"


@dataclass
class Stores:
    """The services' own answers, past the gateway and its cache."""

    activity: activity_pb2_grpc.ActivityServiceStub
    users: user_pb2_grpc.UserServiceStub

    async def workouts(self, user_id: str) -> list[str]:
        found, token = [], ""
        while True:
            request = apb.ListWorkoutsRequest(user_id=user_id, page_size=100, page_token=token)
            page = await self.activity.ListWorkouts(request, timeout=30)
            found += [w.workout_id for w in page.workouts]
            if not (token := page.next_page_token):
                return found

    async def totals(self, user_id: str) -> tuple[int, float]:
        request = apb.GetStatisticsRequest(user_id=user_id)
        s = (await self.activity.GetStatistics(request, timeout=30)).statistics
        return s.total_workouts, s.total_duration_seconds

    async def goals(self, user_id: str) -> list[str]:
        found, token = [], ""
        while True:
            request = upb.ListGoalsRequest(user_id=user_id, page_size=100, page_token=token)
            page = await self.users.ListGoals(request, timeout=30)
            found += [g.goal_id for g in page.goals]
            if not (token := page.next_page_token):
                return found


async def _check_writes(stack: Stack, api: httpx.AsyncClient, load: Load) -> None:
    """Failed logs sent again with their keys; then every write as the services hold it,
    and as the gateway's cache answers."""
    await asyncio.gather(*(_retry(load, me) for me in load.accounts))
    activity, users = stack.replicas["activity_service"][0], stack.replicas["user_service"][0]
    async with activity.process.channel() as a, users.process.channel() as u:
        stores = Stores(activity_pb2_grpc.ActivityServiceStub(a), user_pb2_grpc.UserServiceStub(u))
        for me in load.accounts:
            await _check_stored(stores, load, me)
            await _check_cached(api, stores, me)


async def _check_stored(stores: Stores, load: Load, me: Account) -> None:
    """Every workout acknowledged is in the list and the totals once, nothing else; every
    acknowledged goal is stored once, and no more goals than creates."""
    logged = {str(w.session_id): w.duration for w in load.logs if w.account is me}
    expected = (len(logged), sum(logged.values()))
    # A workout a kill or a stop cut off is counted by recovery, up to RECOVERED later.
    give_up = asyncio.get_running_loop().time() + RECOVERED
    while True:
        listed, totals = await stores.workouts(me.user_id), await stores.totals(me.user_id)
        if sorted(listed) == sorted(logged) and totals == expected:
            break
        assert asyncio.get_running_loop().time() < give_up, (
            f"{me.user_id}: lost {set(logged) - set(listed)}, extra {set(listed) - set(logged)}, "
            f"{len(listed)} listed ({len(set(listed))} distinct), totals {totals} for {expected}"
        )
        await asyncio.sleep(1.0)

    goals = [g for g in load.goals if g.account is me]
    stored = await stores.goals(me.user_id)
    assert len(set(stored)) == len(stored), "a goal listed twice"
    assert {g.goal_id for g in goals if g.goal_id} <= set(stored), "an acknowledged goal lost"
    # A create that failed may have been stored before it failed, and only once.
    assert len(stored) <= len(goals), "more goals than creates"


async def _check_cached(api: httpx.AsyncClient, stores: Stores, me: Account) -> None:
    """The gateway's statistics, cached or not, are the service's: no entry from before
    a forget that Redis missed, or from before its restart, is read."""
    answer = (await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)).json()
    cached = (answer["total_workouts"], answer["total_duration"])
    assert cached == await stores.totals(me.user_id)


async def _check_events_flow(api: httpx.AsyncClient, me: Account) -> None:
    """A workout logged now completes a new goal: the events between the services flow
    through the restarted Redis."""
    target_date = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    body = {"goal_type": "workouts_count", "target_value": 1, "target_date": target_date}
    goal = await api.post(f"/users/{me.user_id}/goals", headers=me.headers, json=body)
    assert goal.status_code == 201, goal.text
    end = dt.datetime.now(dt.UTC)
    workout = {
        "workout_type": "yoga",
        "start_time": (end - dt.timedelta(minutes=20)).isoformat(),
        "end_time": end.isoformat(),
    }
    logged = await api.post("/workouts", headers=me.headers, json=workout)
    assert logged.status_code == 201, logged.text

    async def achieved() -> bool:
        page = await api.get(f"/users/{me.user_id}/notifications", headers=me.headers)
        return goal.json()["goal_id"] in {n["goal"]["goal_id"] for n in page.json()["items"]}

    await wait_for(achieved, timeout=15, interval=0.2)


def _report(load: Load, faults: list[Fault], last: float) -> str:
    """When each fault lasted, the failures in bursts (and the faults whose windows hold
    each), and the latency of each phase: the figures a failure is judged by."""
    lines = [f"{len(load.samples)} requests, {RATE} a second; seconds since the start:"]
    for f in faults:
        lines.append(f"  {f.name}: {f.began:.1f}-{f.cleared:.1f}")
    for burst in bursts([s for s in load.samples if failed(s)]):
        kinds = Counter(f"{s.op} {s.status}" for s in burst)
        holders = [f.name for f in faults if all(f.covers(s.sent) for s in burst)] or ["none"]
        lines.append(
            f"  failed {len(burst)} sent {burst[0].sent:.1f}-{burst[-1].sent:.1f} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
            f"inside the window of: {'; '.join(holders)}"
        )
    phases = {
        "before": [s for s in load.samples if s.sent < WARM_UP],
        "faults": [s for s in load.samples if WARM_UP <= s.sent < last],
        f"0-{SETTLED:g} s after": [s for s in load.samples if last <= s.sent < last + SETTLED],
        "settled": [s for s in load.samples if last + SETTLED <= s.sent],
    }
    for name, phase in phases.items():
        lines.append(latency(name, phase))
        if name in ("before", "settled"):
            for op in sorted({s.op for s in phase}):
                lines.append(latency(f"  {op}", [s for s in phase if s.op == op]))
    lines.append(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return "\n".join(lines)
