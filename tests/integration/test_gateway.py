"""The REST API end to end: a real gateway over real services (two replicas each of the
activity and scoring services) and real databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from devstack import services
from tests.clock import Clock
from tests.helpers import PASSWORD, Account, sign_up, unique, wait_for

PROBLEM = "application/problem+json"


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


async def test_the_full_journey(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)
    h = me.headers
    profile = await api.patch(
        f"/users/{me.user_id}",
        headers=h,
        json={
            "weight_kg": 80,
            "birth_date": "1991-05-01",
            "resting_heart_rate": 55,
            "max_heart_rate": 190,
        },
    )
    assert profile.status_code == 200, profile.text
    assert (profile.json()["weight_kg"], profile.json()["birth_date"]) == (80, "1991-05-01")

    goal = await api.post(
        f"/users/{me.user_id}/goals",
        headers=h,
        json={
            "goal_type": "workouts_count",
            "target_value": 2,
            "target_date": (clock.today + dt.timedelta(days=30)).isoformat(),
        },
    )
    assert goal.status_code == 201, goal.text
    assert (goal.json()["status"], goal.json()["current_progress"]) == ("active", 0)

    started = await api.post("/workouts/start", headers=h, json={"workout_type": "running"})
    assert started.status_code == 201, started.text
    session_id = started.json()["session_id"]
    ended = await api.post(
        f"/workouts/{session_id}/end", headers=h, json={"avg_heart_rate": 160, "distance_m": 10}
    )
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["session_id"] == session_id
    assert (body["status"], body["score_status"], body["intensity"]) == (
        "completed",
        "scored",
        "vigorous",
    )  # (160-55)/(190-55) = 78 % of reserve
    for name in (
        "duration",
        "calories_burned",
        "met",
        "moderate_minutes",
        "vigorous_minutes",
        "intensity_minutes",
    ):
        assert name in body

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
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
    # 80 kg, 10 km/h: 9.8 MET x 80 x 0.5 h = 392 kcal; vigorous: 60 intensity minutes.
    assert (logged.json()["calories_burned"], logged.json()["intensity_minutes"]) == (392, 60)

    stats = await api.get(f"/users/{me.user_id}/statistics", headers=h)
    assert stats.status_code == 200, stats.text
    assert stats.json()["total_workouts"] == 2
    assert stats.json()["by_type"]["running"]["total_workouts"] == 2
    assert stats.json()["total_calories_burned"] == pytest.approx(
        392 + body["calories_burned"], abs=0.01
    )

    score = await api.get(f"/users/{me.user_id}/activity-score", headers=h)
    assert score.status_code == 200, score.text
    week_minutes = (
        60 + body["intensity_minutes"]
        if start.isocalendar()[:2] == clock.today.isocalendar()[:2]
        else body["intensity_minutes"]
    )
    assert score.json()["intensity_minutes"] == pytest.approx(week_minutes, abs=0.01)
    assert score.json()["score"] == pytest.approx(min(100, 100 * week_minutes / 150), abs=0.01)

    async def achieved() -> bool:
        goals = await api.get(f"/users/{me.user_id}/goals", headers=h)
        return bool(goals.json()["items"][0]["status"] == "achieved")

    await wait_for(achieved)
    alerts = await api.get(f"/users/{me.user_id}/notifications", headers=h)
    assert [n["goal"]["goal_id"] for n in alerts.json()["items"]] == [goal.json()["goal_id"]]

    listed = await api.get(f"/users/{me.user_id}/workouts", headers=h, params={"limit": 1})
    assert len(listed.json()["items"]) == 1
    rest = await api.get(
        f"/users/{me.user_id}/workouts",
        headers=h,
        params={"limit": 1, "cursor": listed.json()["next_cursor"]},
    )
    assert {listed.json()["items"][0]["session_id"], rest.json()["items"][0]["session_id"]} == {
        session_id,
        logged.json()["session_id"],
    }


async def test_another_users_data_is_forbidden(api: httpx.AsyncClient) -> None:
    me, other = await sign_up(api), await sign_up(api)
    for method, path in [
        ("GET", f"/users/{other.user_id}"),
        ("GET", f"/users/{other.user_id}/statistics"),
        ("GET", f"/users/{other.user_id}/goals"),
        ("PATCH", f"/users/{other.user_id}"),
    ]:
        response = await api.request(
            method, path, headers=me.headers, json={} if method == "PATCH" else None
        )
        is_problem(response, 403)
    started = await api.post(
        "/workouts/start", headers=other.headers, json={"workout_type": "yoga"}
    )
    stolen = await api.get(f"/workouts/{started.json()['session_id']}", headers=me.headers)
    is_problem(stolen, 404)


async def test_missing_or_bad_tokens_get_401_with_a_challenge(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    for headers in (
        {},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {me.token[:-4]}AAAA"},
    ):
        response = await api.get(f"/users/{me.user_id}", headers=headers)
        is_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_login_failures_look_alike(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    wrong = await api.post("/users/login", json={"email": me.email, "password": "x" * 12})
    unknown = await api.post(
        "/users/login", json={"email": f"{unique()}@example.com", "password": PASSWORD}
    )
    assert is_problem(wrong, 401)["detail"] == is_problem(unknown, 401)["detail"]


async def test_bad_input_is_a_problem_with_field_errors(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/users/register", json={"username": "a", "email": "x", "password": "short"}
    )
    body = is_problem(response, 400)
    assert {e["field"] for e in body["errors"]} >= {"username", "password"}
    me = await sign_up(api)
    dup = await api.post(
        "/users/register",
        json={"username": unique(), "email": me.email.upper(), "password": PASSWORD},
    )
    assert is_problem(dup, 409)["errors"] == [
        {"field": "email", "message": "email is already taken"}
    ]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    bad = await api.post(
        "/workouts",
        headers=me.headers,
        json={"workout_type": "running", "start_time": future, "end_time": future},
    )
    assert {e["field"] for e in is_problem(bad, 400)["errors"]} == {"end_time"}
    week = await api.get(
        f"/users/{me.user_id}/activity-score", headers=me.headers, params={"week": "2026-W60"}
    )
    is_problem(week, 400)
    huge = await api.post("/client-logs", json={"message": "x" * 100_000})
    is_problem(huge, 413)


async def test_second_start_names_the_active_workout(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    first = await api.post("/workouts/start", headers=me.headers, json={"workout_type": "hiit"})
    second = await api.post("/workouts/start", headers=me.headers, json={"workout_type": "hiit"})
    assert first.json()["session_id"] in str(is_problem(second, 400)["detail"])


async def test_a_start_may_name_its_caller_and_no_one_else(api: httpx.AsyncClient) -> None:
    """The first contract sends user_id in the start body: the caller's is accepted."""
    me, other = await sign_up(api), await sign_up(api)
    theirs = await api.post(
        "/workouts/start",
        headers=me.headers,
        json={"workout_type": "yoga", "user_id": other.user_id},
    )
    is_problem(theirs, 403)
    mine = await api.post(
        "/workouts/start", headers=me.headers, json={"workout_type": "yoga", "user_id": me.user_id}
    )
    assert mine.status_code == 201, mine.text
    ended = await api.post(f"/workouts/{mine.json()['session_id']}/end", headers=me.headers)
    assert ended.json()["user_id"] == me.user_id
    theirs_now = await api.get(f"/users/{other.user_id}/workouts", headers=other.headers)
    assert theirs_now.json()["items"] == []


async def test_idempotency_key_replays_the_first_response(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    key = {"Idempotency-Key": uuid.uuid4().hex, **me.headers}
    first = await api.post("/workouts/start", headers=key, json={"workout_type": "rowing"})
    again = await api.post("/workouts/start", headers=key, json={"workout_type": "rowing"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await api.post("/workouts/start", headers=key, json={"workout_type": "yoga"})
    is_problem(other, 422)

    name = unique()
    signup = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    reg_key = {"Idempotency-Key": uuid.uuid4().hex}
    a = await api.post("/users/register", json=signup, headers=reg_key)
    b = await api.post("/users/register", json=signup, headers=reg_key)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["user_id"] == b.json()["user_id"]


async def test_statistics_are_cached_and_never_stale_for_the_writer(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    me = await sign_up(api)
    h = me.headers

    async def hits() -> float:
        metrics = (await api.get(f"{gateway.url}/metrics")).text
        for line in metrics.splitlines():
            if line.startswith('gateway_cache_requests_total{kind="statistics",result="hit"}'):
                return float(line.split()[-1])
        return 0.0

    before = await hits()
    first = await api.get(f"/users/{me.user_id}/statistics", headers=h)
    second = await api.get(f"/users/{me.user_id}/statistics", headers=h)
    assert first.json() == second.json()
    assert await hits() == before + 1
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await api.post(
        "/workouts",
        headers=h,
        json={
            "workout_type": "walking",
            "start_time": start.isoformat(),
            "end_time": (start + dt.timedelta(minutes=20)).isoformat(),
        },
    )
    after = await api.get(f"/users/{me.user_id}/statistics", headers=h)
    assert after.json()["total_workouts"] == first.json()["total_workouts"] + 1


async def test_openapi_docs_health_and_client_logs(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    spec = await api.get(f"{gateway.url}/openapi.json")
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/users/register",
        "/api/v1/users/login",
        "/api/v1/workouts/start",
        "/api/v1/users/{user_id}/activity-score",
        "/api/v1/users/{user_id}/statistics",
    ):
        assert path in paths
    assert (await api.get(f"{gateway.url}/docs")).status_code == 200
    ready = await api.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "user_service": True,
        "activity_service": True,
        "scoring_service": True,
        "redis": True,
    }
    report = await api.post(
        "/client-logs", json={"message": "button exploded", "request_id": "seen-by-client-77"}
    )
    assert report.status_code == 202
    await asyncio.sleep(0.2)
    assert "seen-by-client-77" in gateway.log()


async def test_request_id_travels_to_the_backend_logs(
    api: httpx.AsyncClient, user_service: services.ServiceProcess
) -> None:
    me = await sign_up(api)
    rid = f"trace-{uuid.uuid4().hex}"
    response = await api.get(
        f"/users/{me.user_id}/goals", headers={**me.headers, "X-Request-ID": rid}
    )
    assert response.headers["x-request-id"] == rid
    await asyncio.sleep(0.2)
    assert rid in user_service.log()


def test_account_helper_is_typed() -> None:
    assert Account("u", "t", "e").headers == {"Authorization": "Bearer t"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_time", "0001-01-01T00:00:00+01:00"),
        ("end_time", "9999-12-31T23:00:00-01:00"),
        ("start_time", "1969-12-31T23:59:59Z"),
    ],
)
async def test_dates_out_of_range_are_a_problem_naming_the_field(
    api: httpx.AsyncClient, field: str, value: str
) -> None:
    me = await sign_up(api)
    body = {
        "workout_type": "running",
        "start_time": "2026-01-05T07:00:00Z",
        "end_time": "2026-01-05T07:30:00Z",
        field: value,
    }
    logged = await api.post("/workouts", headers=me.headers, json=body)
    assert [e["field"] for e in is_problem(logged, 400)["errors"]] == [field]
    listed = await api.get(
        f"/users/{me.user_id}/workouts", headers=me.headers, params={"from": value}
    )
    assert [e["field"] for e in is_problem(listed, 400)["errors"]] == ["query.from"]


async def test_a_streamed_body_past_the_limit_is_a_problem(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"message": "'
        for _ in range(100):  # 100 KiB with no Content-Length: sent chunked
            yield b"x" * 1024
        yield b'"}'

    streamed = await api.post(
        "/client-logs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    is_problem(streamed, 413)


async def test_idempotency_records_hold_nothing_derived_from_the_password(
    api: httpx.AsyncClient, gateway_env: dict[str, str]
) -> None:
    name = unique()
    signup = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    key = uuid.uuid4().hex
    created = await api.post("/users/register", json=signup, headers={"Idempotency-Key": key})
    assert created.status_code == 201
    redis = aioredis.from_url(gateway_env["REDIS_URL"], decode_responses=True)
    try:
        slot = hashlib.sha256(key.encode()).hexdigest()
        [found] = [k async for k in redis.scan_iter(f"fitmesh:idempotency:register:*:{slot}")]
        record = await redis.get(found)
    finally:
        await redis.aclose()
    assert record is not None
    assert PASSWORD not in record
    # A digest over the body with its password could be tested offline against guesses.
    as_validated = {**signup, "profile": None}
    for body in (signup, as_validated):
        assert hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() not in record
    for text in (PASSWORD, json.dumps(signup)):
        assert hashlib.sha256(text.encode()).hexdigest() not in record


async def test_client_logs_count_against_the_address(api: httpx.AsyncClient) -> None:
    reported = await api.post("/client-logs", json={"message": "a broken button"})
    assert reported.status_code == 202
    assert reported.headers["ratelimit-limit"] == "100000"  # the suite's per-address limit
