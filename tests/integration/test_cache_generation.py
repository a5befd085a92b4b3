"""The shared cache after Redis was away: an entry a forget could not reach is never read
once Redis is back, because the replica that failed to forget moves the cache to a new
generation first. And scoring never reads a cached profile at all."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from devstack.servers import Server
from gateway.admission import Admitter, CacheRead, Limit
from gateway.cache import Cache, redis_breaker
from servicekit.cachekeys import GENERATION, Generations, entry_key, goals_key, profile_key
from tests.helpers import sign_up, wait_for

Gateways = tuple[services.HttpProcess, services.HttpProcess, Server]


@pytest_asyncio.fixture
async def client(own_redis: Server) -> AsyncIterator[aioredis.Redis]:
    """A bytes client of the test's own Redis, as the gateway's request path has."""
    redis = aioredis.from_url(own_redis.url)
    yield redis
    await redis.aclose()


def _parts(redis: aioredis.Redis) -> tuple[Cache, Admitter]:
    breaker = redis_breaker(3, 30, 10)
    cache = Cache(redis, breaker, 0.25)
    admitter = Admitter(redis, "100/minute", "100/minute", "100/minute", breaker, 0.25, cache.debt)
    return cache, admitter


async def test_a_bump_makes_every_entry_written_before_unreachable(
    client: aioredis.Redis,
) -> None:
    cache, admitter = _parts(client)
    limits = [Limit(admitter.ip, "127.0.0.1")]
    profile, goals = CacheRead(profile_key("u1")), CacheRead(goals_key("u1"), "page:20:")

    first = await admitter.admit(limits, profile)
    assert first.cached is None
    assert first.seen is not None
    before = first.seen.generation
    await cache.put(profile.name, first.seen, b'{"w": 64}', 60)
    goals_seen = (await admitter.admit(limits, goals)).seen
    assert goals_seen is not None
    await cache.put(goals.name, goals_seen, b'{"items": []}', 60, goals.field)
    assert (await admitter.admit(limits, profile)).cached == b'{"w": 64}'
    assert (await admitter.admit(limits, goals)).cached == b'{"items": []}'

    after = await Generations(client).bump()
    assert int(after) == int(before) + 1
    for read in (profile, goals):
        admission = await admitter.admit(limits, read)
        assert (admission.cached, admission.generation) == (None, after)
    # Unreachable, not deleted: the old entries go by their lifetimes.
    assert 0 < await client.ttl(entry_key(profile.name, before)) <= 60


async def test_forget_deletes_the_entry_of_the_current_generation(
    client: aioredis.Redis,
) -> None:
    cache, admitter = _parts(client)
    limits = [Limit(admitter.ip, "127.0.0.1")]
    read = CacheRead(profile_key("u2"))
    seen = (await admitter.admit(limits, read)).seen
    assert seen is not None
    await cache.put(read.name, seen, b"{}", 60)
    await cache.forget(read.name)
    assert (await admitter.admit(limits, read)).cached is None
    assert cache.debt.owed == 0

    # A Redis with no generation has no entry to forget, and a forget makes none.
    await client.flushall()
    await cache.forget(read.name)
    assert await client.get(GENERATION) is None


async def test_an_answer_read_before_a_forget_is_not_stored_after_it(
    client: aioredis.Redis,
) -> None:
    """The race a version closes: a read misses and loads; meanwhile the data changes and
    its forget runs; then the read's put comes. It must store nothing, or the answer from
    before the change would be served for the entry's whole lifetime."""
    cache, admitter = _parts(client)
    limits = [Limit(admitter.ip, "127.0.0.1")]
    for read in (CacheRead(profile_key("u5")), CacheRead(goals_key("u5"), "page:20:")):
        late = (await admitter.admit(limits, read)).seen
        assert late is not None
        await Generations(client).forget(read.name)  # a service's forget, between the two
        await cache.put(read.name, late, b'{"old": true}', 60, read.field)
        assert (await admitter.admit(limits, read)).cached is None

        # A read after the forget stores, and is read back; the next forget takes it.
        fresh = (await admitter.admit(limits, read)).seen
        assert fresh is not None
        assert fresh.version != late.version
        await cache.put(read.name, fresh, b'{"new": true}', 60, read.field)
        assert (await admitter.admit(limits, read)).cached == b'{"new": true}'
        await cache.forget(read.name)
        assert (await admitter.admit(limits, read)).cached is None


async def test_a_redis_that_lost_its_data_never_reuses_a_generation(
    client: aioredis.Redis,
) -> None:
    _, admitter = _parts(client)
    limits = [Limit(admitter.ip, "127.0.0.1")]
    read = CacheRead(profile_key("u3"))
    began = int(time.time())
    first = (await admitter.admit(limits, read)).generation
    assert first is not None
    assert began - 1 <= int(first) <= time.time() + 1  # started from Redis's clock
    await Generations(client).bump()
    await client.flushall()
    await asyncio.sleep(2.1)  # later than any bump of the old generation could reach
    again = (await admitter.admit(limits, read)).generation
    assert again is not None
    assert int(again) > int(first) + 1


async def test_a_failed_forget_is_owed_and_the_next_read_pays_before_reading(
    client: aioredis.Redis,
) -> None:
    cache, admitter = _parts(client)
    limits = [Limit(admitter.ip, "127.0.0.1")]
    read = CacheRead(profile_key("u4"))
    seen = (await admitter.admit(limits, read)).seen
    assert seen is not None
    before = seen.generation
    await cache.put(read.name, seen, b'{"w": 64}', 60)

    await client.client_pause(1000, all=False)  # writes wait: the forget times out
    await cache.forget(read.name)
    assert cache.debt.owed
    await client.client_unpause()

    admission = await admitter.admit(limits, read)
    assert admission.cached is None
    assert admission.generation is not None
    assert int(admission.generation) == int(before) + 1
    assert cache.debt.owed == 0


@pytest_asyncio.fixture
async def two_gateways(gateway_env: dict[str, str], own_redis: Server) -> AsyncIterator[Gateways]:
    env = {**gateway_env, "REDIS_URL": own_redis.url, "BREAKER_COOLDOWN_SECONDS": "1"}
    first = await services.start_http("gateway", env)
    second = await services.start_http("gateway", env)
    try:
        yield first, second, own_redis
    finally:
        first.stop()
        second.stop()


async def _stored(redis: aioredis.Redis, key: str) -> Any:
    """The JSON Redis holds under a key (a cached answer), or the generation as text."""
    value = await redis.get(key)
    assert value is not None, key
    if key == GENERATION:
        return value.decode() if isinstance(value, bytes) else value
    return json.loads(value)


async def _weight(api: httpx.AsyncClient, url: str, user_id: str, h: dict[str, str]) -> float:
    answer = await api.get(f"{url}/api/v1/users/{user_id}", headers=h)
    assert answer.status_code == 200, answer.text
    weight: float = answer.json()["weight_kg"]
    return weight


async def _bumps(api: httpx.AsyncClient, url: str, reason: str) -> float:
    metrics = (await api.get(f"{url}/metrics")).text
    line = f'gateway_cache_generation_bumps_total{{reason="{reason}"}} '
    return sum(float(m.split()[-1]) for m in metrics.splitlines() if m.startswith(line))


async def _cached_profile(
    api: httpx.AsyncClient, gateways: Gateways, redis: aioredis.Redis
) -> tuple[str, dict[str, str], str]:
    """A user whose profile (64 kg) both replicas have read, and its cache entry's key."""
    first, second, _ = gateways
    me = await sign_up(api)
    h = me.headers
    patched = await api.patch(
        f"{first.url}/api/v1/users/{me.user_id}", headers=h, json={"weight_kg": 64}
    )
    assert patched.status_code == 200, patched.text
    for url in (first.url, second.url, first.url, second.url):
        assert await _weight(api, url, me.user_id, h) == 64
    key = entry_key(profile_key(me.user_id), await _stored(redis, GENERATION))
    assert (await _stored(redis, key))["weight_kg"] == 64
    return me.user_id, h, key


async def test_a_profile_changed_while_redis_was_down_is_read_fresh_on_both_replicas(
    two_gateways: Gateways,
) -> None:
    first, second, redis_server = two_gateways
    async with httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=15) as api:
        redis = aioredis.from_url(redis_server.url)
        user_id, h, key = await _cached_profile(api, two_gateways, redis)
        await redis.aclose()

        redis_server.kill()
        changed = await api.patch(
            f"{first.url}/api/v1/users/{user_id}", headers=h, json={"weight_kg": 65}
        )
        assert changed.status_code == 200, changed.text  # its forget failed
        redis_server.restart()
        redis = aioredis.from_url(redis_server.url)
        try:
            # Redis kept its data: without a new generation this is read for a day.
            assert (await _stored(redis, key))["weight_kg"] == 64
        finally:
            await redis.aclose()

        # Every read on either replica from the moment Redis is back is the new weight,
        # the replica that did not see the write included.
        for url in (second.url, first.url, second.url, first.url, second.url):
            assert await _weight(api, url, user_id, h) == 65
        assert await _bumps(api, second.url, "restart") >= 1


async def test_a_replica_whose_forget_failed_pays_as_soon_as_redis_answers(
    two_gateways: Gateways,
) -> None:
    """Redis stays up (no restart to see) but does not answer the first replica's forget in
    time; the first replica gets no request after, and the second one reads fresh as soon
    as the first has moved the generation on by itself."""
    first, second, redis_server = two_gateways
    redis = aioredis.from_url(redis_server.url)
    try:
        async with httpx.AsyncClient(base_url=f"{first.url}/api/v1", timeout=15) as api:
            user_id, h, _ = await _cached_profile(api, two_gateways, redis)
            await redis.client_pause(2000, all=False)  # writes (and scripts) wait
            paused = time.monotonic()
            changed = await api.patch(
                f"{first.url}/api/v1/users/{user_id}", headers=h, json={"weight_kg": 65}
            )
            assert changed.status_code == 200, changed.text
            await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - paused)))
            back = time.monotonic()

            async def paid() -> bool:
                return await _bumps(api, first.url, "owed") >= 1

            await wait_for(paid, timeout=10, interval=0.02)
            assert time.monotonic() - back < 2
            for _ in range(3):
                assert await _weight(api, second.url, user_id, h) == 65
            assert await _bumps(api, first.url, "restart") == 0
    finally:
        await redis.aclose()


async def test_scoring_never_reads_a_cached_profile(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    me = await sign_up(api)
    h = me.headers
    await api.patch(f"/users/{me.user_id}", headers=h, json={"weight_kg": 80})
    assert (await api.get(f"/users/{me.user_id}", headers=h)).json()["weight_kg"] == 80
    # Poison the cached profile: reads now see 40 kg; a workout must not.
    key = entry_key(profile_key(me.user_id), await _stored(redis, GENERATION))
    cached = await _stored(redis, key)
    await redis.set(key, json.dumps({**cached, "weight_kg": 40}), ex=60)
    assert (await api.get(f"/users/{me.user_id}", headers=h)).json()["weight_kg"] == 40

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    logged = await api.post(
        "/workouts",
        headers=h,
        json={
            "workout_type": "running",
            "start_time": start.isoformat(),
            "end_time": (start + dt.timedelta(minutes=30)).isoformat(),
            "distance_m": 5000,
        },
    )
    assert logged.status_code == 201, logged.text
    # 80 kg, 10 km/h: 9.8 MET x 80 x 0.5 h = 392 kcal (40 kg would be 196).
    assert logged.json()["calories_burned"] == 392
