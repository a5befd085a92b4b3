"""Guessing passwords costs the guesser: failed logins are limited per account and per
address, and the address is the connection's unless a trusted proxy is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from tests.helpers import PASSWORD, sign_up
from tests.integration.test_gateway import is_problem


@pytest_asyncio.fixture
async def strict(gateway_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    env = {**gateway_env, "LOGIN_FAILURES_ACCOUNT": "3/minute", "LOGIN_FAILURES_IP": "6/minute"}
    gateway = await services.start_http("gateway", env)
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
        yield api
    gateway.stop()


async def login(api: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await api.post("/users/login", json={"email": email, "password": password})


async def test_failed_logins_are_limited_per_account_then_per_address(
    strict: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    first, second, third = [await sign_up(strict) for _ in range(3)]
    for _ in range(3):
        is_problem(await login(strict, first.email, "not the password"), 401)
    # The account's limit is spent: even the right password waits.
    locked = is_problem(await login(strict, first.email, PASSWORD), 429)
    assert "failed logins" in locked["detail"]
    waited = await login(strict, first.email.upper(), PASSWORD)
    assert waited.status_code == 429
    assert 1 <= int(waited.headers["retry-after"]) <= 60
    # Another account from the same address is not affected by the first one's failures.
    assert (await login(strict, second.email, PASSWORD)).status_code == 200
    for _ in range(3):
        is_problem(await login(strict, second.email, "still not it"), 401)
    # Six failures from this address across two accounts: the address's limit is spent.
    is_problem(await login(strict, third.email, PASSWORD), 429)
    # A success never counted, and no key names an account's address.
    keys = [k async for k in redis.scan_iter("fitmesh:login-failures*")]
    assert keys
    assert not any(a.email.split("@")[0] in k for k in keys for a in (first, second, third))


async def client_logs_from(api: httpx.AsyncClient, forwarded: list[str]) -> list[int]:
    statuses = []
    for address in forwarded:
        reply = await api.post(
            "/client-logs", json={"message": "probe"}, headers={"X-Forwarded-For": address}
        )
        statuses.append(reply.status_code)
    return statuses


async def test_forwarded_addresses_count_only_from_a_configured_proxy(
    gateway_env: dict[str, str], redis: aioredis.Redis
) -> None:
    addresses = [f"203.0.113.{n}" for n in range(1, 7)]
    for trusted, expected in (("", [202] * 5 + [429]), ("127.0.0.1", [202] * 6)):
        # This address's windows start empty, whatever ran before.
        stale = [k async for k in redis.scan_iter("fitmesh:ratelimit:*127.0.0.1*")]
        if stale:
            await redis.delete(*stale)
        env = {**gateway_env, "RATE_LIMIT_IP": "5/minute", "FORWARDED_ALLOW_IPS": trusted}
        gateway = await services.start_http("gateway", env)
        try:
            async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
                assert await client_logs_from(api, addresses) == expected, trusted
        finally:
            gateway.stop()
