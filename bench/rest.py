"""REST measurements: the mixed workload, the cached reads and the bare reference app on
ladders of fixed rates, the gateway's cost over a direct gRPC call, the cache, and the
grpc-gateway peer on the same uncached read."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench import ladder
from bench.seed import Account
from bench.suite import Suite
from bench.tools import Load, ghz, oha, percentile, ratio, service_token
from servicekit import cachekeys

# Shares of the mixed workload; workout writes are a start and its end (half each).
READS = (("profile", 0.30), ("statistics", 0.30), ("workouts", 0.20), ("goals", 0.10))
WRITES = 0.10
# The gateway tier alone: only the reads it answers from Redis (and the bare app's ladder).
CACHED_READS = (("profile", 0.50), ("statistics", 0.50))
LIST_NOTIFICATIONS = "fitmesh.user.v1.UserService.ListNotifications"
LIGHT_RATE = 50


def read_path(kind: str, user_id: str) -> str:
    return {
        "profile": f"/api/v1/users/{user_id}",
        "statistics": f"/api/v1/users/{user_id}/statistics",
        "workouts": f"/api/v1/users/{user_id}/workouts?limit=20",
        "goals": f"/api/v1/users/{user_id}/goals",
    }[kind]


def notifications_path(user_id: str) -> str:
    """The first page of a user's notifications: a keyset query in PostgreSQL that no
    gateway caches."""
    return f"/api/v1/users/{user_id}/notifications?limit=20"


@dataclass
class Writes:
    """Open-loop workout writes: at each due time a free account starts a workout and ends
    it as soon as the start returns. Latency counts from the due time, so a backlog shows."""

    latencies_ms: list[float]
    errors: int = 0

    def load(self, seconds: float) -> Load:
        n = len(self.latencies_ms)
        return Load(
            requests=n + self.errors,
            errors=self.errors,
            rps=(n + self.errors) / seconds,
            p50_ms=percentile(self.latencies_ms, 50),
            p90_ms=percentile(self.latencies_ms, 90),
            p95_ms=percentile(self.latencies_ms, 95),
            p99_ms=percentile(self.latencies_ms, 99),
            latencies_ms=self.latencies_ms,
        )


async def _pair(
    client: httpx.AsyncClient, accounts: asyncio.Queue[Account], due: float, out: Writes
) -> None:
    account = await accounts.get()
    try:
        started = await client.post(
            "/api/v1/workouts/start", headers=account.headers, json={"workout_type": "running"}
        )
        out.latencies_ms.append((time.perf_counter() - due) * 1000)
        if started.status_code != 201:
            out.errors += 1
            return
        sent = time.perf_counter()
        ended = await client.post(
            f"/api/v1/workouts/{started.json()['session_id']}/end",
            headers=account.headers,
            json={},
        )
        if ended.status_code != 200:
            out.errors += 1
        else:
            out.latencies_ms.append((time.perf_counter() - sent) * 1000)
    except httpx.HTTPError:
        out.errors += 1
    finally:
        accounts.put_nowait(account)


async def writes(urls: list[str], pool: list[Account], rate: float, seconds: float) -> Load:
    """`rate` requests a second (a start and an end each count) for `seconds`."""
    free: asyncio.Queue[Account] = asyncio.Queue()
    for account in pool:
        free.put_nowait(account)
    out = Writes([])
    clients = [httpx.AsyncClient(base_url=u, timeout=10) for u in urls]
    tasks = []
    pairs = int(rate / 2 * seconds)
    begin = time.perf_counter()
    try:
        for n in range(pairs):
            due = begin + n / (rate / 2)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(_pair(clients[n % len(clients)], free, due, out)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return out.load(seconds)


def combine(parts: dict[str, Load]) -> dict[str, Any]:
    """One load's figures, over every request of every part."""
    loads = list(parts.values())
    everything = [ms for p in loads for ms in p.latencies_ms]
    return {
        "achieved_rps": round(sum(p.rps for p in loads), 1),
        "requests": sum(p.requests for p in loads),
        "errors": sum(p.errors for p in loads),
        "p50_ms": round(percentile(everything, 50), 2),
        "p90_ms": round(percentile(everything, 90), 2),
        "p95_ms": round(percentile(everything, 95), 2),
        "p99_ms": round(percentile(everything, 99), 2),
        "parts": {name: p.as_dict() for name, p in parts.items()},
    }


def connections(rate: float) -> int:
    """Enough connections for an open-loop oha at `rate` that answers take up to 100 ms."""
    return max(4, int(rate / 25))


def _reads(
    urls: list[str],
    reads: tuple[tuple[str, float], ...],
    account: Account,
    rate: float,
    seconds: float,
) -> dict[str, Awaitable[Load]]:
    """One open-loop oha per read and server, each at its share of `rate`."""
    runs: dict[str, Awaitable[Load]] = {}
    for kind, share in reads:
        for n, url in enumerate(urls, start=1):
            part = rate * share / len(urls)
            runs[f"{kind}@{n}"] = oha(
                url + read_path(kind, account.user_id),
                seconds,
                rate=part,
                connections=connections(part),
                headers=account.headers,
            )
    return runs


async def _step(runs: dict[str, Awaitable[Load]]) -> dict[str, Any]:
    results = await asyncio.gather(*runs.values())
    return combine(dict(zip(runs, results, strict=True)))


async def mixed_step(
    suite: Suite, reader: Account, writers: list[Account], rate: float, seconds: float
) -> dict[str, Any]:
    """The mixed workload on both gateways."""
    urls = [g.url for g in suite.gateways]
    runs = _reads(urls, READS, reader, rate, seconds)
    runs["workout start+end"] = writes(urls, writers, rate * WRITES, seconds)
    return await _step(runs)


async def reads_step(
    urls: list[str], reader: Account, rate: float, seconds: float
) -> dict[str, Any]:
    """Profile and statistics reads spread over `urls`: the gateways answer them from Redis,
    the bare app with its one GET."""
    return await _step(_reads(urls, CACHED_READS, reader, rate, seconds))


async def mixed(
    suite: Suite, reader: Account, writers: list[Account], rates: list[float], seconds: float
) -> dict[str, Any]:
    async def step(rate: float) -> dict[str, Any]:
        return await mixed_step(suite, reader, writers, rate, seconds)

    # The pause lets the write path's follow-up work (scores, totals, events) drain.
    return {"rates": rates, **await ladder.climb(step, rates, pause=2)}


async def reads(
    urls: list[str], reader: Account, rates: list[float], seconds: float
) -> dict[str, Any]:
    """The cached reads' ladder on the gateways, or the same ladder on the bare app. A
    short warm-up first opens the servers' connections to Redis."""
    await reads_step(urls, reader, LIGHT_RATE, 2)

    async def step(rate: float) -> dict[str, Any]:
        return await reads_step(urls, reader, rate, seconds)

    return {"rates": rates, **await ladder.climb(step, rates, pause=1)}


async def overhead(suite: Suite, account: Account, seconds: float) -> dict[str, Any]:
    """The same read — the first page of a user's notifications, a keyset query in
    PostgreSQL that the gateway never caches — through a gateway and as a direct gRPC call:
    latency at a light fixed rate (nothing queues, so the difference is the gateway's own
    cost), then throughput with both gateways (or both replicas) under 16 concurrent calls."""
    path = notifications_path(account.user_id)
    message = {"user_id": account.user_id, "page_size": 20}
    replicas = [s.address for s in suite.user]
    rest_light = await oha(
        suite.gateways[0].url + path,
        seconds,
        rate=LIGHT_RATE,
        connections=2,
        headers=account.headers,
    )
    grpc_light = await ghz(
        replicas[0], LIST_NOTIFICATIONS, message, seconds, rate=LIGHT_RATE, concurrency=2
    )
    rest_full = await asyncio.gather(
        *(
            oha(g.url + path, seconds, connections=16, headers=account.headers)
            for g in suite.gateways
        )
    )
    grpc_full = await asyncio.gather(
        *(ghz(a, LIST_NOTIFICATIONS, message, seconds, concurrency=16) for a in replicas)
    )
    rest_rps, grpc_rps = sum(x.rps for x in rest_full), sum(x.rps for x in grpc_full)
    return {
        "read": "first page of notifications (GET /users/{id}/notifications, ListNotifications)",
        "p50_added_ms": round(rest_light.p50_ms - grpc_light.p50_ms, 3),
        "p95_added_ms": round(rest_light.p95_ms - grpc_light.p95_ms, 3),
        "p99_added_ms": round(rest_light.p99_ms - grpc_light.p99_ms, 3),
        "throughput_ratio": round(rest_rps / grpc_rps, 3),
        "rest_rps": round(rest_rps, 1),
        "grpc_rps": round(grpc_rps, 1),
        f"at_{LIGHT_RATE}_rps": {"rest": rest_light.as_dict(), "grpc": grpc_light.as_dict()},
        "saturated": {
            "rest": [x.as_dict() for x in rest_full],
            "grpc": [x.as_dict() for x in grpc_full],
        },
    }


async def _timed_reads(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], count: int, before: Any
) -> list[float]:
    took = []
    for _ in range(count):
        await before()
        began = time.perf_counter()
        reply = await client.get(path, headers=headers)
        took.append((time.perf_counter() - began) * 1000)
        reply.raise_for_status()
    return took


async def cache(suite: Suite, account: Account, count: int = 300) -> dict[str, Any]:
    """Statistics read one at a time: with the cached copy in Redis, and with it deleted
    just before each read (so the gateway asks the activity service and stores it again)."""
    key = cachekeys.statistics_key(account.user_id)
    path = read_path("statistics", account.user_id)
    redis = aioredis.from_url(suite.redis.url)
    cache = cachekeys.Generations(redis)  # the entry of the cache's current generation

    async def keep() -> None:
        return None

    async def drop() -> None:
        await cache.forget(key)

    try:
        async with httpx.AsyncClient(base_url=suite.gateways[0].url, timeout=10) as client:
            await _timed_reads(client, path, account.headers, 20, keep)  # warm up connections
            warm = await _timed_reads(client, path, account.headers, count, keep)
            cold = await _timed_reads(client, path, account.headers, count, drop)
    finally:
        await redis.aclose()
    warm_p50, cold_p50 = statistics.median(warm), statistics.median(cold)
    return {
        "speedup": round(cold_p50 / warm_p50, 2),
        "warm_p50_ms": round(warm_p50, 3),
        "cold_p50_ms": round(cold_p50, 3),
        "warm_p95_ms": round(percentile(warm, 95), 3),
        "cold_p95_ms": round(percentile(cold, 95), 3),
        "warm_p99_ms": round(percentile(warm, 99), 3),
        "cold_p99_ms": round(percentile(cold, 99), 3),
        "reads": count,
    }


PEER_CONNECTIONS = 16  # for each oha process, closed loop


async def _closed(
    urls: list[str],
    seconds: float,
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str | None = None,
) -> dict[str, Any]:
    """One closed-loop oha per URL, all at once."""
    runs: dict[str, Awaitable[Load]] = {
        f"{n}": oha(
            u, seconds, connections=PEER_CONNECTIONS, headers=headers, method=method, body=body
        )
        for n, u in enumerate(urls, start=1)
    }
    return await _step(runs)


async def _versus(
    suite: Suite, account: Account, path: str, rpc: str, body: str, seconds: float
) -> dict[str, Any]:
    """The read through fitmesh's gateways (one oha process each) and through grpc-gateway
    (as many oha processes), the same connections a side. grpc-gateway passes the
    Authorization header on as gRPC metadata: it carries the service token a service asks
    for, as fitmesh's gateway sends one."""
    ours = await _closed([g.url + path for g in suite.gateways], seconds, headers=account.headers)
    audience = {"user": "user_service", "activity": "activity_service"}[rpc.split(".")[1]]
    theirs = await _closed(
        [f"{suite.peer_url}/{rpc}"] * len(suite.gateways),
        seconds,
        headers={"Authorization": f"Bearer {service_token(audience)}"},
        method="POST",
        body=body,
    )
    share = ratio(ours["achieved_rps"], theirs["achieved_rps"])
    return {"share": share, "fitmesh": ours, "grpc_gateway": theirs}


async def peer(suite: Suite, account: Account, seconds: float) -> dict[str, Any]:
    """fitmesh's gateways against grpc-gateway (Go) over the same service replicas, each
    under 32 concurrent requests: first on the same work — an uncached read both pass to a
    user_service replica — then on the statistics read, which fitmesh answers from its
    cache while grpc-gateway asks an activity replica every time (not the same work)."""
    who = f'{{"userId": "{account.user_id}"'
    same = await _versus(
        suite,
        account,
        notifications_path(account.user_id),
        "fitmesh.user.v1.UserService/ListNotifications",
        who + ', "pageSize": 20}',
        seconds,
    )
    cached = await _versus(
        suite,
        account,
        read_path("statistics", account.user_id),
        "fitmesh.activity.v1.ActivityService/GetStatistics",
        who + "}",
        seconds,
    )
    return {
        "same_work_share": same.pop("share"),
        "same_work": {
            "read": "first page of notifications, uncached: both ask a user_service replica",
            **same,
        },
        "cached_read_share": cached.pop("share"),
        "cached_read": {
            "read": "statistics: fitmesh answers from its Redis cache, grpc-gateway asks an"
            " activity_service replica (not the same work)",
            **cached,
        },
        "load": f"closed loop, {len(suite.gateways)} oha processes x {PEER_CONNECTIONS}"
        " connections a side; fitmesh: one per gateway; grpc-gateway: one Go process",
        "fitmesh_does_more": [
            "verifies the Ed25519 access token and that the caller owns the data",
            "checks per-address and per-user rate limits in Redis",
            "guards the backend with a circuit breaker and a deadline",
            "logs one JSON access line per request and counts it in Prometheus",
        ],
    }
