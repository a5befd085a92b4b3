"""The gateway's request path against a Redis of its own: a cached read costs one Redis
round trip, counted with MONITOR, and rate limits keep the `limits` library's windows,
keys and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from devstack import services
from devstack.servers import Server
from servicekit.audit import AUDIT_STREAM
from tests.helpers import redis_commands_during, sign_up


@pytest_asyncio.fixture
async def own_gateway(
    gateway_env: dict[str, str], own_redis: Server
) -> AsyncIterator[tuple[str, Server]]:
    env = {**gateway_env, "REDIS_URL": own_redis.url, "RATE_LIMIT_USER": "6/minute"}
    gateway = await services.start_http("gateway", env)
    try:
        yield gateway.url, own_redis
    finally:
        gateway.stop()


async def _commands_during(
    redis_url: str, request: Callable[[], Any]
) -> tuple[list[str], httpx.Response]:
    """The names of the commands the request path sent to Redis while `request` ran: not the
    background's, nor the audit log's batches (tests/integration/test_audit_log.py counts
    those: one per batch, not per request)."""
    commands, answer = await redis_commands_during(redis_url, request)
    return [c[0] for c in commands if c[:2] != ["xadd", AUDIT_STREAM]], answer


async def test_a_cached_read_is_one_redis_round_trip(own_gateway: tuple[str, Server]) -> None:
    url, redis_server = own_gateway
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        # A miss of another entry first: the gateway's scripts are loaded in Redis by then.
        assert (await api.get(f"/users/{me.user_id}", headers=me.headers)).status_code == 200
        path = f"/users/{me.user_id}/statistics"
        first_seen, first = await _commands_during(
            redis_server.url, lambda: api.get(path, headers=me.headers)
        )
        assert first.status_code == 200, first.text
        # A miss: the admission script, then the put script (stored if no forget came since).
        assert first_seen == ["evalsha", "evalsha"], first_seen
        seen, cached = await _commands_during(
            redis_server.url, lambda: api.get(path, headers=me.headers)
        )
    assert cached.status_code == 200
    assert cached.content == first.content  # the stored bytes, sent as they are
    assert seen == ["evalsha"], seen


async def test_rate_limits_keep_the_library_windows_and_headers(
    own_gateway: tuple[str, Server],
) -> None:
    url, redis_server = own_gateway
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        path = f"/users/{me.user_id}"
        answers = [await api.get(path, headers=me.headers) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 6 + [429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == [
        "5",
        "4",
        "3",
        "2",
        "1",
        "0",
        "0",
    ]
    assert {a.headers["ratelimit-limit"] for a in answers} == {"6"}
    assert all(0 < int(a.headers["ratelimit-reset"]) <= 60 for a in answers[:6])
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The `limits` library reads the same window from the same keys.
    storage = RedisStorage(
        f"async+{redis_server.url}", implementation="redispy", key_prefix="fitmesh:ratelimit"
    )
    stats = await SlidingWindowCounterRateLimiter(storage).get_window_stats(
        parse("6/minute"), me.user_id
    )
    assert stats.remaining == 0
    limiter = SlidingWindowCounterRateLimiter(storage)
    assert not await limiter.test(parse("6/minute"), me.user_id)


async def test_unauthenticated_calls_count_against_the_address(
    own_gateway: tuple[str, Server],
) -> None:
    url, _ = own_gateway
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=15) as api:
        anonymous = await api.get("/users/nobody")
        bad = await api.get("/users/nobody", headers={"Authorization": "Bearer nonsense"})
    for answer in (anonymous, bad):
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        # The per-address limit (the suite's 100000/minute) is the one shown.
        assert answer.headers["ratelimit-limit"] == "100000"
    assert int(anonymous.headers["ratelimit-remaining"]) > int(bad.headers["ratelimit-remaining"])
