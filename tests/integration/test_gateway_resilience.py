"""The gateway when things break: a replica dies, every scoring replica dies, Redis dies,
and a client floods it. Each test runs its own gateway and replicas, so it can kill them."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from devstack import services
from devstack.servers import Server
from tests.helpers import PASSWORD, Replicas, sign_up, start_replicas, wait_for


@pytest_asyncio.fixture
async def stack(
    gateway_env: dict[str, str], activity_service_env: dict[str, str]
) -> AsyncIterator[Replicas]:
    replicas = await start_replicas(
        gateway_env,
        activity_service_env,
        BREAKER_COOLDOWN_SECONDS="1",
        # A call that was in flight on the killed replica is retried on the other within
        # the same deadline; on a busy machine the two attempts can outlast the default
        # 3 s, which would be a slow machine, not a lost request.
        BACKEND_DEADLINE_SECONDS="10",
    )
    yield replicas
    replicas.stop()


async def test_a_replica_killed_mid_run_fails_no_request(stack: Replicas) -> None:
    gateway = stack.gateway
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        statuses: list[int] = []
        after_kill: list[int] = []
        stop, killed = asyncio.Event(), asyncio.Event()

        async def client(n: int) -> None:
            i = 0
            while not stop.is_set():
                start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2, minutes=n * 1000 + i)
                logged = await api.post(
                    "/workouts",
                    headers=me.headers,
                    json={
                        "workout_type": "cycling",
                        "start_time": start.isoformat(),
                        "end_time": (start + dt.timedelta(minutes=10)).isoformat(),
                    },
                )
                listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
                statuses.extend([logged.status_code, listed.status_code])
                if killed.is_set():
                    after_kill.extend([logged.status_code, listed.status_code])
                i += 1

        clients = [asyncio.create_task(client(n)) for n in range(4)]
        await asyncio.sleep(1.5)
        stack.activity[0].kill()
        killed.set()
        await wait_for(lambda: _enough(after_kill), timeout=30)
        stop.set()
        await asyncio.gather(*clients)
    assert set(statuses) <= {200, 201}, [s for s in statuses if s not in (200, 201)]


async def test_breaker_opens_on_the_third_failure_and_closes_by_itself(
    stack: Replicas,
) -> None:
    gateway = stack.gateway
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        path = f"/users/{me.user_id}/activity-score"
        assert (await api.get(path, headers=me.headers)).status_code == 200
        for s in stack.scoring:
            s.kill()
        failures = [await api.get(path, headers=me.headers) for _ in range(3)]
        assert [f.status_code for f in failures] == [503, 503, 503]
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            fast = await api.get(path, headers=me.headers)
            timings.append(time.perf_counter() - began)
            assert fast.status_code == 503
            assert int(fast.headers["retry-after"]) >= 1
            assert "scoring_service is unavailable" in fast.json()["detail"]
        # An open breaker answers without any backend I/O; the median keeps one call slowed
        # by a busy machine from deciding the test (a call that reaches the dead backend
        # retries with backoff instead).
        assert statistics.median(timings) < 0.05, timings
        metrics = (await api.get(f"{gateway.url}/metrics")).text
        assert 'gateway_breaker_state{backend="scoring_service"} 2.0' in metrics

        port = stack.scoring_ports[0]
        stack.scoring = [await services.start("scoring_service", {"GRPC_PORT": str(port)})]

        async def recovered() -> bool:
            return (await api.get(path, headers=me.headers)).status_code == 200

        await wait_for(recovered, timeout=20, interval=0.3)
        metrics = (await api.get(f"{gateway.url}/metrics")).text
        assert 'gateway_breaker_state{backend="scoring_service"} 0.0' in metrics
        # Client errors never count as backend faults.
        for _ in range(5):
            bad = await api.get(path, headers=me.headers, params={"week": "1999-W99"})
            assert bad.status_code == 400
        assert (await api.get(path, headers=me.headers)).status_code == 200


async def _enough(after_kill: list[int]) -> bool:
    return len(after_kill) >= 16


async def test_redis_killed_the_api_still_answers(
    gateway_env: dict[str, str], own_redis: Server
) -> None:
    gateway = await services.start_http("gateway", {**gateway_env, "REDIS_URL": own_redis.url})
    try:
        async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
            me = await sign_up(api)
            h = me.headers
            await api.patch(f"/users/{me.user_id}", headers=h, json={"weight_kg": 64})
            assert (await api.get(f"/users/{me.user_id}", headers=h)).status_code == 200
            own_redis.kill()
            began = time.perf_counter()
            profile = await api.get(f"/users/{me.user_id}", headers=h)
            assert profile.status_code == 200
            assert profile.json()["weight_kg"] == 64
            changed = await api.patch(f"/users/{me.user_id}", headers=h, json={"weight_kg": 65})
            assert changed.status_code == 200
            assert (await api.get(f"/users/{me.user_id}", headers=h)).json()["weight_kg"] == 65
            started = await api.post("/workouts/start", headers=h, json={"workout_type": "yoga"})
            assert started.status_code == 201
            ended = await api.post(f"/workouts/{started.json()['session_id']}/end", headers=h)
            assert ended.status_code == 200
            stats = await api.get(f"/users/{me.user_id}/statistics", headers=h)
            assert stats.json()["total_workouts"] == 1
            assert time.perf_counter() - began < 5
            ready = await api.get(f"{gateway.url}/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] is False
    finally:
        gateway.stop()


async def test_rate_limits_are_shared_across_replicas(gateway_env: dict[str, str]) -> None:
    env = {**gateway_env, "RATE_LIMIT_AUTH": "3/minute"}
    first, second = (
        await services.start_http("gateway", env),
        await services.start_http("gateway", env),
    )
    try:
        body = {"email": "nobody@example.com", "password": PASSWORD}
        async with httpx.AsyncClient(timeout=15) as client:
            answers = []
            for url in (first.url, second.url, first.url, second.url):
                answers.append(await client.post(f"{url}/api/v1/users/login", json=body))
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        limited = answers[-1]
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == "3"
        assert limited.headers["ratelimit-remaining"] == "0"
    finally:
        first.stop()
        second.stop()
