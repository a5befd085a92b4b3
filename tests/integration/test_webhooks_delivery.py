"""Deliveries to a real receiver: signatures that verify (with the README's receiver too),
the events and their bodies, the retry schedule, final answers, Retry-After, the rate
limit, dead letters after the horizon and their replay."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.servers import free_port
from gateway.webhook_models import RECEIVER_EXAMPLE
from servicekit.events import (
    HEALTH_STREAM,
    WORKOUTS_STREAM,
    ImportFinished,
    MetricDayTotal,
    WorkoutDeleted,
    revision_event_id,
)
from tests.helpers import wait_for, workout_event
from tests.webhook_stack import FAST, Receiver, Stack, always, failing_first, since
from user_service.webhook_rules import EVENT_TYPES, backoff_ceiling
from user_service.webhook_sender import NOT_SENT_OURS

BASE = float(FAST["WEBHOOK_RETRY_BASE_SECONDS"])
CAP = float(FAST["WEBHOOK_RETRY_CAP_SECONDS"])
SLACK = 0.5  # a sender's poll, a database write and a busy two-core machine
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def hooks(webhook_single: Stack) -> Stack:
    return webhook_single


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks algorithm, written out here as a receiver would."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


async def posts(receiver: Receiver, path: str, count: int, timeout: float = 15) -> list[Any]:
    async def arrived() -> bool:
        return len(receiver.posts(path)) >= count

    await wait_for(arrived, timeout=timeout)
    return receiver.posts(path)


async def test_a_delivery_is_signed_the_standard_webhooks_way(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(me, receiver.url("/signed"))
    sent = time.time()
    event_id = await hooks.workout(me.user_id)
    (post,) = await posts(receiver, "/signed", 1)
    headers = {k.lower(): v for k, v in post.headers.items()}
    assert headers["webhook-id"] == event_id
    assert abs(int(headers["webhook-timestamp"]) - sent) < 5
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"] == expected_signature(
        created["secret"], event_id, headers["webhook-timestamp"], post.body
    )
    body = post.json
    assert body["type"] == "workout.completed"
    assert abs(dt.datetime.fromisoformat(body["timestamp"]).timestamp() - sent) < 5
    assert body["data"]["user_id"] == me.user_id
    assert body["data"]["workout_type"] == "running"
    assert body["data"]["duration"] == 1800.0
    assert "event_id" not in body["data"]
    # Another secret would not verify it.
    other = expected_signature(
        created["secret"][:-4] + "AAA=", event_id, headers["webhook-timestamp"], post.body
    )
    assert headers["webhook-signature"] != other


async def test_the_readme_receiver_verifies_real_deliveries(hooks: Stack) -> None:
    port = free_port()
    secret_file = Path(tempfile.mkdtemp()) / "secret.txt"
    secret_file.write_text("not yet\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RECEIVER_EXAMPLE,
        env={**os.environ, "PORT": str(port), "SECRET_FILE": str(secret_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient() as client:

            async def listening() -> bool:
                try:
                    await client.get(url, params={"hub.challenge": "x"})
                except httpx.TransportError:
                    return False
                return True

            await wait_for(listening, timeout=10)
            me = await hooks.account()
            created = await hooks.subscribe(me, url)  # the example answers the challenge
            secret_file.write_text(created["secret"] + "\n")
            event_id = await hooks.workout(me.user_id)
            (delivery,) = await hooks.settled(created["id"], 1)
            assert delivery["status"] == "delivered"
            assert delivery["last_status"] == 204
            # A forged delivery is refused by the same code.
            forged = await client.post(
                url,
                content=b'{"type": "workout.completed"}',
                headers={
                    "webhook-id": "evil",
                    "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": "v1,AAAA",
                },
            )
            assert forged.status_code == 401
    finally:
        proc.terminate()
        out, _ = await proc.communicate()
    assert out.decode().splitlines() == [f"{event_id} workout.completed"]


async def test_every_kind_of_event_reaches_its_subscribers(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    await hooks.subscribe(me, receiver.url("/all"), list(EVENT_TYPES))
    goal = await hooks.api.post(
        f"/users/{me.user_id}/goals",
        json={"goal_type": "workouts_count", "target_value": 1, "target_date": "2030-12-31"},
        headers=me.headers,
    )
    assert goal.status_code == 201, goal.text
    completed = workout_event(me.user_id, uuid.uuid4().hex)  # completes the goal: an alert
    deleted = WorkoutDeleted(
        revision_event_id(completed.workout_id, 2), me.user_id, completed.workout_id, 2, NOW
    )
    finished = ImportFinished.of(me.user_id, "import-1", "failed", "", "not a GPX file", NOW)
    total = MetricDayTotal.of(me.user_id, "steps", dt.date(2026, 3, 1), 8123)
    entries: list[tuple[str, dict[Any, Any]]] = [
        (WORKOUTS_STREAM, completed.to_fields()),
        (WORKOUTS_STREAM, deleted.to_fields()),
        (WORKOUTS_STREAM, finished.to_fields()),
        (HEALTH_STREAM, total.to_fields()),
    ]
    for stream, fields in entries:
        await hooks.redis.xadd(stream, fields)
    received = await posts(receiver, "/all", 5)
    by_type = {r.json["type"]: r for r in received}
    assert set(by_type) == {
        "workout.completed",
        "workout.deleted",
        "import.finished",
        "goal.achieved",
        "metric.recorded",
    }
    ids = {kind: r.headers["webhook-id"] for kind, r in by_type.items()}
    assert ids["workout.completed"] == completed.event_id
    assert ids["workout.deleted"] == f"{completed.workout_id}@2"
    assert ids["import.finished"] == finished.event_id
    assert ids["metric.recorded"] == total.event_id
    achieved = by_type["goal.achieved"].json["data"]
    assert achieved["goal_id"] == goal.json()["goal_id"]
    assert achieved["status"] == "achieved"
    notifications = await hooks.api.get(f"/users/{me.user_id}/notifications", headers=me.headers)
    alerts = {n["kind"]: n for n in notifications.json()["items"]}
    assert ids["goal.achieved"] == alerts["goal_achieved"]["notification_id"]
    assert by_type["workout.deleted"].json["data"]["version"] == 2
    assert by_type["import.finished"].json["data"]["error"] == "not a GPX file"
    assert by_type["metric.recorded"].json["data"] == {
        "user_id": me.user_id,
        "metric_type": "steps",
        "day": "2026-03-01",
        "total": 8123.0,
    }
    await asyncio.sleep(0.5)
    assert len(receiver.posts("/all")) == 5  # each event once (a goal undone is no event)


async def test_failures_are_retried_within_the_backoff_bounds(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    receiver.behaviours["/flaky"] = failing_first(3, 500)
    created = await hooks.subscribe(me, receiver.url("/flaky"))
    event_id = await hooks.workout(me.user_id)
    (delivery,) = await hooks.settled(created["id"], 1)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 4
    attempts = hooks.attempts(delivery["delivery_id"])
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 204]
    assert [a["error"] for a in attempts] == ["HTTP 500"] * 3 + [None]
    received = receiver.posts("/flaky")
    assert [r.headers["webhook-id"] for r in received] == [event_id] * 4
    for n in range(1, 4):
        gap = (attempts[n]["at"] - attempts[n - 1]["at"]).total_seconds()
        assert 0 <= gap <= backoff_ceiling(n, BASE, CAP) + SLACK, (n, gap)
        arrived = received[n].at - received[n - 1].at
        assert arrived <= backoff_ceiling(n, BASE, CAP) + SLACK, (n, arrived)


async def test_a_final_answer_stops_the_retries(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    receiver.behaviours["/gone"] = always(410)
    created = await hooks.subscribe(me, receiver.url("/gone"))
    await hooks.workout(me.user_id)
    (delivery,) = await hooks.settled(created["id"], 1)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1
    assert delivery["last_error"] == "HTTP 410"
    await asyncio.sleep(1.5)  # several backoff ceilings
    assert len(receiver.posts("/gone")) == 1


async def test_retry_after_is_honoured(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    receiver.behaviours["/busy"] = failing_first(1, 429, {"Retry-After": "2"})
    created = await hooks.subscribe(me, receiver.url("/busy"))
    await hooks.workout(me.user_id)
    (delivery,) = await hooks.settled(created["id"], 1)
    assert delivery["status"] == "delivered"
    first, second = receiver.posts("/busy")
    # Without it, the first retry would come within 0.2 s.
    assert 1.9 <= second.at - first.at <= 2 + SLACK


async def test_the_rate_limit_spreads_a_burst(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(me, receiver.url("/burst"))
    for _ in range(12):
        await hooks.workout(me.user_id)
    await hooks.settled(created["id"], 12)
    times = sorted(r.at for r in receiver.posts("/burst"))
    assert len(times) == 12
    # At most 5 a second (a moving window); a little less than a second allows for clocks.
    assert max(sum(1 for t in times if start <= t < start + 0.95) for start in times) <= 5
    assert times[-1] - times[0] >= 1.9
    async with httpx.AsyncClient() as client:
        scraped = await client.get(f"http://127.0.0.1:{hooks.replicas[0].metrics_port}/metrics")
    metrics = scraped.text
    assert 'webhook_deferred_total{reason="rate_limited"}' in metrics
    assert "webhook_queue_depth" in metrics


async def test_dead_letters_after_the_horizon_and_replay_sends_each_once(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    receiver.behaviours["/down"] = always(503)
    created = await hooks.subscribe(me, receiver.url("/down"))
    hook = f"/webhooks/{created['id']}"
    started = dt.datetime.now(dt.UTC)
    for _ in range(3):
        await hooks.workout(me.user_id)
    await posts(receiver, "/down", 3)
    pending = hooks.deliveries(created["id"])[0]["delivery_id"]
    early = await hooks.api.post(f"{hook}/deliveries/{pending}/replay", headers=me.headers)
    assert early.status_code == 400
    assert early.json()["detail"] == "the delivery is pending already"

    dead = await hooks.settled(created["id"], 3, timeout=15)
    assert {d["status"] for d in dead} == {"dead"}
    for d in dead:
        assert d["last_error"] == "HTTP 503"
        # Dead once the next attempt would fall past the 3 s horizon.
        assert (d["finished_at"] - d["created_at"]).total_seconds() <= 3 + SLACK
    listed = await hooks.api.get(f"{hook}/deliveries?status=dead", headers=me.headers)
    page = listed.json()
    assert len(page["items"]) == 3
    log = page["items"][0]
    assert log["status"] == "dead"
    assert log["attempts"] == len(log["attempt_log"]) >= 2
    assert {a["status_code"] for a in log["attempt_log"]} == {503}
    assert all(a["latency_ms"] >= 0 and a["error"] == "HTTP 503" for a in log["attempt_log"])
    assert log["payload"]["type"] == "workout.completed"

    receiver.behaviours["/down"] = always(204)
    before = len(receiver.posts("/down"))
    one = dead[0]["delivery_id"]
    replayed = await hooks.api.post(f"{hook}/deliveries/{one}/replay", headers=me.headers)
    assert replayed.status_code == 202
    assert replayed.json() == {"replayed": 1}

    async def delivered_once() -> bool:
        return bool(hooks.deliveries(created["id"])[0]["status"] == "delivered")

    await wait_for(delivered_once, timeout=10)
    rest = await hooks.api.post(
        f"{hook}/replay", json={"since": since(started)}, headers=me.headers
    )
    assert rest.json() == {"replayed": 2}
    again = await hooks.api.post(
        f"{hook}/replay", json={"since": since(started)}, headers=me.headers
    )
    assert again.json() == {"replayed": 0}  # nothing is dead any more
    final = await hooks.settled(created["id"], 3)
    assert {d["status"] for d in final} == {"delivered"}
    await asyncio.sleep(1)
    after = receiver.posts("/down")[before:]
    assert sorted(r.headers["webhook-id"] for r in after) == sorted(d["event_id"] for d in dead)


async def test_a_delivery_fitmesh_cannot_sign_is_retried_then_dead_not_spun(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(me, receiver.url("/unsigned"))
    # As after its encryption key was dropped from ENCRYPTION_KEYS.
    hooks.rows(
        "UPDATE webhooks SET secret_enc = 'not a Fernet token' WHERE webhook_id = %s RETURNING 1",
        created["id"],
    )
    await hooks.workout(me.user_id)
    (delivery,) = await hooks.settled(created["id"], 1, timeout=15)
    assert delivery["status"] == "dead"
    assert delivery["attempts"] >= 2
    assert delivery["last_error"] == NOT_SENT_OURS
    assert receiver.posts("/unsigned") == []
