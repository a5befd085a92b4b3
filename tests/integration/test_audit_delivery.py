"""The audit log's way from the gateway to PostgreSQL, against real servers: no request
pays a Redis round trip for its record (counted with MONITOR), a stopping gateway sends the
records it holds, and entries delivered again, or sent again, are stored once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from devstack.servers import Server
from servicekit.audit import AUDIT_STREAM, AuditRecord, batch_fields, records_of
from tests.helpers import (
    audit_log,
    consumed,
    read_profile,
    redis_commands_during,
    sign_up,
    verify_audit,
    wait_for,
)

GROUP = "user_service.audit"  # the session user service's audit group


async def test_redelivered_entries_are_stored_once(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    me = await sign_up(api)
    now = dt.datetime.now(dt.UTC).timestamp()
    rows = [
        (me.user_id, me.user_id, "export", "account", 200, "req-export", int(now * 1e6)),
        (me.user_id, me.user_id, "read", "profile", 200, "req-read", int(now * 1e6) + 1),
    ]
    fields: dict[Any, Any] = batch_fields(f"test-{uuid.uuid4().hex}", rows)
    for _ in range(3):  # a send retried after its reply was lost, twice
        await redis.xadd(AUDIT_STREAM, fields)
    poison: dict[Any, Any] = {"batch": "broken", "records": "not json"}
    poison_id = await redis.xadd(AUDIT_STREAM, poison)
    await wait_for(lambda: consumed(redis, GROUP, AUDIT_STREAM))
    records = await audit_log(api, me, 2)
    assert [(r["action"], r["request_id"]) for r in records] == [
        ("read", "req-read"),
        ("export", "req-export"),
    ]
    assert (await verify_audit(api, me))["intact"]
    dead: Any = await redis.xrange(f"{AUDIT_STREAM}.dead", "-", "+")
    assert any(f.get("batch") == "broken" and "error" in f for _, f in dead), poison_id


@pytest_asyncio.fixture
async def own_gateway(
    gateway_env: dict[str, str], own_redis: Server
) -> AsyncIterator[tuple[services.HttpProcess, Server]]:
    """A gateway on a Redis of its own, whose every command the test can watch."""
    env = {**gateway_env, "REDIS_URL": own_redis.url, "AUDIT_FLUSH_SECONDS": "0.1"}
    gateway = await services.start_http("gateway", env)
    try:
        yield gateway, own_redis
    finally:
        gateway.stop()


async def stream_records(redis_url: str) -> list[AuditRecord]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        entries: Any = await client.xrange(AUDIT_STREAM, "-", "+")
    finally:
        await client.aclose()
    return [record for _, fields in entries for record in records_of(fields)]


async def test_auditing_costs_no_request_a_redis_round_trip(
    own_gateway: tuple[services.HttpProcess, Server],
) -> None:
    gateway, redis_server = own_gateway
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        path = f"/users/{me.user_id}/statistics"
        assert (await api.get(path, headers=me.headers)).status_code == 200  # now cached

        async def burst() -> list[httpx.Response]:
            answers = await asyncio.gather(*(api.get(path, headers=me.headers) for _ in range(20)))
            await asyncio.sleep(0.3)  # the batch goes out within the flush interval
            return answers

        await burst()  # the gateway's Redis connections for 20 at once are open
        commands, answers = await redis_commands_during(redis_server.url, burst)
    assert [a.status_code for a in answers] == [200] * 20
    # A connection the pool opens (20 at once may need one more) says hello once: no request's.
    names = [c[0] for c in commands if c[0] not in ("hello", "info", "client")]
    # Each request: its one admission round trip, as without the log. The log: one XADD
    # per batch, sent apart from every request.
    assert names.count("evalsha") == 20
    batches = names.count("xadd")
    assert set(names) == {"evalsha", "xadd"}
    assert 1 <= batches <= 3, names
    assert all(c[1] == AUDIT_STREAM for c in commands if c[0] == "xadd")
    records = [r for r in await stream_records(redis_server.url) if r.user_id == me.user_id]
    assert len(records) == 41
    assert {(r.actor_id, r.action, r.resource, r.result) for r in records} == {
        (me.user_id, "read", "statistics", 200)
    }


async def test_a_stopping_gateway_sends_the_records_it_holds(
    gateway_env: dict[str, str], own_redis: Server
) -> None:
    env = {**gateway_env, "REDIS_URL": own_redis.url, "AUDIT_FLUSH_SECONDS": "5"}
    gateway = await services.start_http("gateway", env)
    try:
        async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
            me = await sign_up(api)
            await read_profile(api, me, 2)
        assert await stream_records(own_redis.url) == []  # held: the interval is long
    finally:
        gateway.stop()  # SIGTERM
    records = await stream_records(own_redis.url)
    assert [(r.user_id, r.resource) for r in records] == [(me.user_id, "profile")] * 2
