"""Health metrics: batches of watch samples written open-loop at a fixed rate through both
gateways, and one user's 7-day summary read one at a time, uncached and cached.

The two summary figures are separate measures, each labelled; neither is a ratio of the
other. Uncached: the user's health cache hash is deleted just before each read, so the
gateway asks an activity_service replica, which adds up every sample in the window (about
10,000 for a week of one heart-rate sample a minute), and stores the answer again.
Cached: the same read repeated, answered from Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench import seed
from bench.seed import Account
from bench.suite import Suite
from bench.tools import percentile
from servicekit.cachekeys import Generations, health_key

METRICS = "/api/v1/health-metrics/"
RATE = 5.0  # batches a second
BATCH = 100  # samples a batch
SECONDS = 30.0  # 150 batches at 5/s: enough for a p99 worth reading
ACCOUNTS = 8  # writers; the batches go round them and round the gateways
READS = 300  # sequential summary reads, each state
READ_SECONDS = 200.0  # or fewer reads, when they take longer than this (the section's bound)
WARM_UP_READS = 10
# The reader's history: a week of one heart-rate sample a minute, in the largest batches.
HISTORY_DAYS = 7
HISTORY_PER_DAY = 1440
HISTORY_BATCH = 1000
DAY = dt.timedelta(days=1)


def summary_path(user_id: str, days: int = HISTORY_DAYS) -> str:
    return f"/api/v1/health-metrics/user/{user_id}/summary?days={days}"


def heart_rate(at: dt.datetime, client_id: str, bpm: float) -> dict[str, Any]:
    return {
        "metric_type": "heart_rate",
        "value": bpm,
        "unit": "bpm",
        "recorded_at": at.isoformat(),
        "client_id": client_id,
    }


def spread_batch(now: dt.datetime, size: int, rng: random.Random) -> bytes:
    """`size` heart-rate samples at random times over the last day, each with a client id
    never used before (so every one is stored, none is a duplicate)."""
    run = uuid.uuid4().hex
    samples = [
        heart_rate(now - rng.random() * DAY, f"bench-{run}-{n}", rng.randint(55, 160))
        for n in range(size)
    ]
    return json.dumps(samples).encode()


def week_of_samples(now: dt.datetime, days: int, per_day: int) -> list[dict[str, Any]]:
    """`days * per_day` samples evenly spaced inside the last `days` days, newest first,
    leaving the window's oldest hour empty so none slips out while the reads run."""
    count = days * per_day
    step = (days * DAY - dt.timedelta(hours=1)) / count
    return [heart_rate(now - n * step, f"history-{n}", 60 + (n * 7) % 60) for n in range(count)]


@dataclass
class Batches:
    """Open-loop batch writes: latency counts from each batch's due time, so a backlog
    shows (as rest.Writes)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    stored: int = 0
    duplicates: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def figures(self, rate: float, size: int, seconds: float, accounts: int) -> dict[str, Any]:
        done = self.latencies_ms
        requests = len(done) + self.errors
        return {
            "write_rate": rate,
            "write_batch": size,
            "write_seconds": seconds,
            "write_accounts": accounts,
            "write_requests": requests,
            "write_errors": self.errors,
            "write_rps": round(requests / seconds, 2),
            "samples_per_second": round(self.stored / seconds, 1),
            "samples_stored": self.stored,
            "samples_duplicate": self.duplicates,
            "write_p50_ms": round(percentile(done, 50), 2),
            "write_p95_ms": round(percentile(done, 95), 2),
            "write_p99_ms": round(percentile(done, 99), 2),
            "write_statuses": self.statuses,
        }


async def _post(
    client: httpx.AsyncClient, account: Account, body: bytes, due: float, out: Batches
) -> None:
    try:
        reply = await client.post(
            METRICS,
            content=body,
            headers={**account.headers, "Content-Type": "application/json"},
        )
    except httpx.HTTPError as exc:
        out.errors += 1
        name = type(exc).__name__
        out.statuses[name] = out.statuses.get(name, 0) + 1
        return
    took = (time.perf_counter() - due) * 1000
    status = str(reply.status_code)
    out.statuses[status] = out.statuses.get(status, 0) + 1
    if reply.status_code != 201:
        out.errors += 1
        return
    found = reply.json()
    out.stored += found["stored"]
    out.duplicates += found["duplicates"]
    out.latencies_ms.append(took)


async def writes(
    urls: list[str], accounts: list[Account], rate: float, size: int, seconds: float
) -> dict[str, Any]:
    """`rate` batches of `size` samples a second for `seconds`, each due at its time
    whether or not the one before has been answered; bodies are made before the clock
    starts, so the client's JSON is not timed."""
    rng = random.Random(7)  # noqa: S311 - a load pattern, repeated run to run
    now = dt.datetime.now(dt.UTC)
    count = int(rate * seconds)
    bodies = [spread_batch(now, size, rng) for _ in range(count)]
    out = Batches()
    clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
    tasks = []
    begin = time.perf_counter()
    try:
        for n, body in enumerate(bodies):
            due = begin + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            client, account = clients[n % len(clients)], accounts[n % len(accounts)]
            tasks.append(asyncio.create_task(_post(client, account, body, due, out)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return out.figures(rate, size, seconds, len(accounts))


async def history(client: httpx.AsyncClient, account: Account) -> int:
    """A week of one heart-rate sample a minute, written through the API in batches."""
    samples = week_of_samples(dt.datetime.now(dt.UTC), HISTORY_DAYS, HISTORY_PER_DAY)
    stored = 0
    for offset in range(0, len(samples), HISTORY_BATCH):
        reply = await client.post(
            METRICS, headers=account.headers, json=samples[offset : offset + HISTORY_BATCH]
        )
        if reply.status_code != 201:
            raise RuntimeError(f"history batch at {offset}: {reply.status_code} {reply.text}")
        stored += reply.json()["stored"]
    return stored


@dataclass
class Reads:
    """Sequential reads: each answered one's time, and the ones not answered 200 (by
    status, or the client's error)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def failed(self, why: str) -> None:
        self.errors += 1
        self.failures[why] = self.failures.get(why, 0) + 1

    def figures(self, state: str) -> dict[str, Any]:
        took = self.latencies_ms
        found: dict[str, Any] = {
            f"summary_{state}_p{p}_ms": round(percentile(took, p), 3) for p in (50, 95, 99)
        }
        return {
            **found,
            f"summary_{state}_reads": len(took) + self.errors,
            f"summary_{state}_errors": self.errors,
            f"summary_{state}_failures": self.failures,
        }


async def _reads(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    count: int,
    before: Callable[[], Awaitable[Any]],
) -> Reads:
    """Up to `count` reads one after another, `before` run ahead of each (untimed); they
    stop early after `READ_SECONDS`."""
    out = Reads()
    deadline = time.monotonic() + READ_SECONDS
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        await before()
        began = time.perf_counter()
        try:
            reply = await client.get(path, headers=headers)
        except httpx.HTTPError as exc:
            out.failed(type(exc).__name__)
            continue
        if reply.status_code != 200:
            out.failed(str(reply.status_code))
            continue
        out.latencies_ms.append((time.perf_counter() - began) * 1000)
    return out


async def summary_reads(suite: Suite, account: Account, count: int = READS) -> dict[str, Any]:
    """The reader's 7-day summary through one gateway, one read at a time: first with the
    cache hash deleted before each read, then the same read left cached."""
    path = summary_path(account.user_id)
    key = health_key(account.user_id)
    redis = aioredis.from_url(suite.redis.url)
    cache = Generations(redis)  # the entry of the cache's current generation

    async def keep() -> None:
        return None

    async def drop() -> None:
        await cache.forget(key)

    try:
        async with httpx.AsyncClient(base_url=suite.gateways[0].url, timeout=30) as client:
            first = await client.get(path, headers=account.headers)
            first.raise_for_status()
            in_window = sum(s["count"] for s in first.json()["summaries"])
            await _reads(client, path, account.headers, WARM_UP_READS, drop)
            uncached = await _reads(client, path, account.headers, count, drop)
            await _reads(client, path, account.headers, WARM_UP_READS, keep)
            cached = await _reads(client, path, account.headers, count, keep)
    finally:
        await redis.aclose()
    return {
        "summary_samples": in_window,
        **uncached.figures("uncached"),
        **cached.figures("cached"),
    }


async def health(
    suite: Suite, rate: float, size: int, seconds: float, reads: int = READS
) -> dict[str, Any]:
    """Its own accounts: one reader with a week of samples, `ACCOUNTS` writers."""
    made = await seed.accounts(suite.database_url, 1 + ACCOUNTS, "health")
    reader, writers = made[0], made[1:]
    async with httpx.AsyncClient(base_url=suite.gateways[0].url, timeout=60) as client:
        written = await history(client, reader)
    print(f"  reader: {written:,} heart-rate samples over {HISTORY_DAYS} days", flush=True)
    read = await summary_reads(suite, reader, reads)
    for state in ("uncached", "cached"):
        print(
            f"  summary of {read['summary_samples']:,} samples, {state}:"
            f" {read[f'summary_{state}_reads']} reads one at a time,"
            f" {read[f'summary_{state}_errors']} errors, p50/p95/p99"
            f" {read[f'summary_{state}_p50_ms']}/{read[f'summary_{state}_p95_ms']}/"
            f"{read[f'summary_{state}_p99_ms']} ms",
            flush=True,
        )
    wrote = await writes([g.url for g in suite.gateways], writers, rate, size, seconds)
    print(
        f"  batches of {size} at {rate:g}/s for {seconds:g} s: {wrote['write_requests']}"
        f" requests, {wrote['write_errors']} errors, {wrote['write_rps']} req/s,"
        f" {wrote['samples_per_second']:g} samples/s, p50/p95/p99 {wrote['write_p50_ms']}/"
        f"{wrote['write_p95_ms']}/{wrote['write_p99_ms']} ms",
        flush=True,
    )
    return {"history_samples": written, **read, **wrote}
