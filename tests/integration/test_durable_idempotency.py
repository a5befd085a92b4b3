"""An Idempotency-Key outlives the gateway's Redis record of it: the services keep the key
and the request's fingerprint with what they wrote, so after the record is lost (a flush, a
failover) a repeat still gets the first answer and a reuse with another body still gets 422.
The shared Redis is not flushed; the test deletes the records of its own keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import httpx
import redis.asyncio as aioredis

from tests.helpers import PASSWORD, sign_up, unique
from tests.integration.test_gateway import is_problem

REUSED = "this Idempotency-Key was used with a different request"


async def lose_record(redis: aioredis.Redis, key: str) -> None:
    """Delete the gateway's Redis record of `key`, whatever its scope."""
    slot = hashlib.sha256(key.encode()).hexdigest()
    found = [k async for k in redis.scan_iter(f"fitmesh:idempotency:*:{slot}")]
    assert found, "the first request left no record to lose"
    await redis.delete(*found)


async def test_log_after_the_record_is_lost(api: httpx.AsyncClient, redis: aioredis.Redis) -> None:
    me = await sign_up(api)
    key = uuid.uuid4().hex
    h = {"Idempotency-Key": key, **me.headers}
    began = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    body = {
        "workout_type": "running",
        "start_time": began.isoformat(),
        "end_time": (began + dt.timedelta(minutes=40)).isoformat(),
        "distance_m": 8000,
    }
    first = await api.post("/workouts", headers=h, json=body)
    assert first.status_code == 201, first.text

    await lose_record(redis, key)
    again = await api.post("/workouts", headers=h, json=body)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()

    await lose_record(redis, key)
    other = await api.post("/workouts", headers=h, json={**body, "distance_m": 9000})
    assert is_problem(other, 422)["detail"] == REUSED

    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    assert [w["session_id"] for w in listed.json()["items"]] == [first.json()["session_id"]]
    stats = await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)
    assert stats.json()["total_workouts"] == 1
    assert stats.json()["total_duration"] == 2400


async def test_start_after_the_record_is_lost(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    me = await sign_up(api)
    key = uuid.uuid4().hex
    h = {"Idempotency-Key": key, **me.headers}
    first = await api.post("/workouts/start", headers=h, json={"workout_type": "rowing"})
    assert first.status_code == 201, first.text
    session = first.json()["session_id"]

    await lose_record(redis, key)
    again = await api.post("/workouts/start", headers=h, json={"workout_type": "rowing"})
    assert again.status_code == 201, again.text
    assert again.json() == first.json()

    await lose_record(redis, key)
    other = await api.post("/workouts/start", headers=h, json={"workout_type": "yoga"})
    assert is_problem(other, 422)["detail"] == REUSED
    # A start with a new key is refused as before: the workout is running.
    fresh = {"Idempotency-Key": uuid.uuid4().hex, **me.headers}
    busy = await api.post("/workouts/start", headers=fresh, json={"workout_type": "yoga"})
    assert session in is_problem(busy, 400)["detail"]

    ended = await api.post(f"/workouts/{session}/end", headers=me.headers)
    assert ended.status_code == 200, ended.text
    # The refused reuse left no record (a failed attempt frees its key): the service answers.
    after_end = await api.post("/workouts/start", headers=h, json={"workout_type": "rowing"})
    assert after_end.status_code == 201, after_end.text
    assert after_end.json()["session_id"] == session
    await lose_record(redis, key)
    other = await api.post("/workouts/start", headers=h, json={"workout_type": "yoga"})
    assert is_problem(other, 422)["detail"] == REUSED
    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    assert [w["session_id"] for w in listed.json()["items"]] == [session]


async def test_register_after_the_record_is_lost(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    name = unique()
    signup = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    key = uuid.uuid4().hex
    h = {"Idempotency-Key": key}
    first = await api.post("/users/register", json=signup, headers=h)
    assert first.status_code == 201, first.text

    await lose_record(redis, key)
    again = await api.post("/users/register", json=signup, headers=h)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()

    await lose_record(redis, key)
    other = await api.post("/users/register", json={**signup, "username": unique()}, headers=h)
    assert is_problem(other, 422)["detail"] == REUSED
    # Without the key the same body is a second registration, refused as before.
    taken = await api.post("/users/register", json=signup)
    is_problem(taken, 409)
