"""REST measurements: the mixed workload at fixed rates, the gateway's cost over a direct
gRPC call, the cache, and the grpc-gateway peer on the same read."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench.seed import Account
from bench.suite import Suite
from bench.tools import Load, ghz, oha, percentile
from servicekit import cachekeys

P99_LIMIT_MS = 100.0
# Shares of the mixed workload; workout writes are a start and its end (half each).
READS = (("profile", 0.30), ("statistics", 0.30), ("workouts", 0.20), ("goals", 0.10))
WRITES = 0.10
# The gateway tier alone: only the reads it answers from Redis.
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
    """One step's figures, over every request of every part."""
    loads = list(parts.values())
    everything = [ms for p in loads for ms in p.latencies_ms]
    return {
        "achieved_rps": round(sum(p.rps for p in loads), 1),
        "requests": sum(p.requests for p in loads),
        "errors": sum(p.errors for p in loads),
        "p50_ms": round(percentile(everything, 50), 2),
        "p90_ms": round(percentile(everything, 90), 2),
        "p99_ms": round(percentile(everything, 99), 2),
        "parts": {name: p.as_dict() for name, p in parts.items()},
    }


async def mixed_step(
    suite: Suite,
    reader: Account,
    writers: list[Account],
    rate: float,
    seconds: float,
    cached_only: bool = False,
) -> dict[str, Any]:
    urls = [g.url for g in suite.gateways]
    runs: dict[str, Any] = {}
    for kind, share in CACHED_READS if cached_only else READS:
        for n, url in enumerate(urls, start=1):
            runs[f"{kind}@gw{n}"] = oha(
                url + read_path(kind, reader.user_id),
                seconds,
                rate=rate * share / len(urls),
                connections=max(4, int(rate * share / len(urls) / 25)),
                headers=reader.headers,
            )
    if not cached_only:
        runs["workout start+end"] = writes(urls, writers, rate * WRITES, seconds)
    results = await asyncio.gather(*runs.values())
    step = combine(dict(zip(runs, results, strict=True)))
    step["rate"] = rate
    step["ok"] = step["errors"] == 0 and step["p99_ms"] < P99_LIMIT_MS
    return step


async def mixed(
    suite: Suite,
    reader: Account,
    writers: list[Account],
    rates: list[float],
    seconds: float,
    cached_only: bool = False,
) -> dict[str, Any]:
    """Fixed rates in increasing order until a rate misses the bound (or errors)."""
    steps = []
    for rate in rates:
        step = await mixed_step(suite, reader, writers, rate, seconds, cached_only)
        print(
            f"  {rate:>6.0f}/s: achieved {step['achieved_rps']:>7.1f}/s, p50 {step['p50_ms']} ms,"
            f" p99 {step['p99_ms']} ms, errors {step['errors']}",
            flush=True,
        )
        steps.append(step)
        if not step["ok"]:
            break
        await asyncio.sleep(2)  # let the write path's follow-up work drain
    sustained = max((s["rate"] for s in steps if s["ok"]), default=0.0)
    return {"sustained_rps": sustained, "p99_limit_ms": P99_LIMIT_MS, "steps": steps}


async def overhead(suite: Suite, account: Account, seconds: float) -> dict[str, Any]:
    """The same read — the first page of a user's notifications, a keyset query in
    PostgreSQL that the gateway never caches — through a gateway and as a direct gRPC call:
    latency at a light fixed rate (nothing queues, so the difference is the gateway's own
    cost), then throughput with both gateways (or both replicas) under 16 concurrent calls."""
    path = f"/api/v1/users/{account.user_id}/notifications?limit=20"
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

    async def keep() -> None:
        return None

    async def drop() -> None:
        await redis.delete(key)

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
        "warm_p99_ms": round(percentile(warm, 99), 3),
        "cold_p99_ms": round(percentile(cold, 99), 3),
        "reads": count,
    }


async def peer(suite: Suite, account: Account, seconds: float) -> dict[str, Any]:
    """The statistics read through one fitmesh gateway and through grpc-gateway, each
    loaded by 32 concurrent requests."""
    ours = await oha(
        suite.gateways[0].url + read_path("statistics", account.user_id),
        seconds,
        connections=32,
        headers=account.headers,
    )
    theirs = await oha(
        suite.peer_url + "/fitmesh.activity.v1.ActivityService/GetStatistics",
        seconds,
        connections=32,
        method="POST",
        body=f'{{"userId": "{account.user_id}"}}',
    )
    return {
        "share_of_grpc_gateway": round(ours.rps / theirs.rps, 3),
        "fitmesh": ours.as_dict(),
        "grpc_gateway": theirs.as_dict(),
        "fitmesh_does_more": [
            "verifies the Ed25519 access token and that the caller owns the data",
            "checks per-address and per-user rate limits in Redis",
            "reads through a Redis cache (the peer asks the service every time)",
            "guards the backend with a circuit breaker and a deadline",
            "logs one JSON access line per request and counts it in Prometheus",
        ],
    }
