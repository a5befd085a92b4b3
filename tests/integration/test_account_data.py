"""A user's data, whole: the export holds every record they own and no secret; erasure
asks the password again and then leaves nothing of them in PostgreSQL, MongoDB or Redis,
not even in other people's group sessions, while another user's data stays as it was."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis.asyncio as aioredis
from psycopg import sql
from pymongo import AsyncMongoClient

from devstack import services
from devstack.servers import Server
from tests.helpers import PASSWORD, Account, sign_up
from tests.wsclient import Member

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DATA = Path(__file__).resolve().parent.parent / "data"


async def _fill(api: httpx.AsyncClient, gateway: services.HttpProcess, me: Account) -> None:
    """One of everything: a profile, a goal, a workout, an imported one, a metric, a meal, a
    group session."""
    h = me.headers
    tomorrow = (NOW + dt.timedelta(days=1)).date().isoformat()
    patched = await api.patch(f"/users/{me.user_id}", headers=h, json={"birth_date": "1990-04-01"})
    assert patched.status_code == 200, patched.text
    goal = {"goal_type": "workouts_count", "target_value": 5, "target_date": tomorrow}
    assert (await api.post(f"/users/{me.user_id}/goals", headers=h, json=goal)).status_code == 201
    run = {
        "workout_type": "running",
        "start_time": (NOW - dt.timedelta(hours=2)).isoformat(),
        "end_time": (NOW - dt.timedelta(hours=1)).isoformat(),
        "distance_m": 10_000,
    }
    assert (await api.post("/workouts", headers=h, json=run)).status_code == 201
    gpx = (DATA / "hike.gpx").read_bytes()
    sent = await api.post(
        "/workouts/imports",
        headers=h,
        files={"file": ("hike.gpx", gpx)},
        data={"workout_type": "walking"},
    )
    assert sent.status_code == 202, sent.text
    for _ in range(100):
        status = await api.get(f"/workouts/imports/{sent.json()['import_id']}", headers=h)
        if status.json()["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert status.json()["status"] == "done", status.text
    sample = {"metric_type": "weight_kg", "value": 70.5, "recorded_at": NOW.isoformat()}
    assert (await api.post("/health-metrics", headers=h, json=sample)).status_code == 201
    meal = {"name": "oats", "calories": 420, "eaten_at": NOW.isoformat()}
    assert (await api.post("/nutrition-logs", headers=h, json=meal)).status_code == 201
    created = await api.post(
        "/group-sessions", headers=h, json={"name": "mine", "workout_type": "cycling"}
    )
    session_id = created.json()["session_id"]
    member = await Member.connect(gateway.url, me.token, me.user_id)
    await member.join(session_id)
    await member.send(event="send_message", session_id=session_id, message="hello")
    await member.wait(lambda f: f.get("data", {}).get("message") == "hello")
    assert (await api.post(f"/group-sessions/{session_id}/end", headers=h)).status_code == 200
    await member.close()


@dataclass
class Meeting:
    """A group session a host made, a guest joined, and both spoke in."""

    session_id: str
    host: Member
    guest: Member
    host_said: str
    guest_said: str

    async def close(self) -> None:
        await self.host.close()
        await self.guest.close()


async def _meet(
    api: httpx.AsyncClient, gateway: services.HttpProcess, host: Account, guest: Account
) -> Meeting:
    created = await api.post(
        "/group-sessions", headers=host.headers, json={"name": "theirs", "workout_type": "rowing"}
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    meeting = Meeting(
        session_id,
        await Member.connect(gateway.url, host.token, host.user_id),
        await Member.connect(gateway.url, guest.token, guest.user_id),
        f"host-says-{uuid.uuid4().hex}",
        f"guest-says-{uuid.uuid4().hex}",
    )
    await meeting.host.join(session_id)
    await meeting.guest.join(session_id)
    for member, said in ((meeting.guest, meeting.guest_said), (meeting.host, meeting.host_said)):
        await member.send(event="send_message", session_id=session_id, message=said)
    await meeting.guest.send(event="exercise_update", session_id=session_id, data={"reps": 12})
    for said in (meeting.guest_said, meeting.host_said):
        await meeting.host.wait(lambda f, said=said: f.get("data", {}).get("message") == said)
    await meeting.host.wait(lambda f: f.get("data", {}).get("reps") == 12)
    return meeting


async def _end(api: httpx.AsyncClient, host: Account, meeting: Meeting) -> None:
    ended = await api.post(f"/group-sessions/{meeting.session_id}/end", headers=host.headers)
    assert ended.status_code == 200, ended.text
    await meeting.close()


async def _export(api: httpx.AsyncClient, me: Account) -> tuple[str, list[dict[str, Any]]]:
    answer = await api.get(f"/users/{me.user_id}/export", headers=me.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in answer.headers["content-disposition"]
    return answer.text, [json.loads(line) for line in answer.text.splitlines()]


async def test_an_export_holds_everything_owned_and_no_secret(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    me, other = await sign_up(api), await sign_up(api)
    await _fill(api, gateway, me)
    text, lines = await _export(api, me)
    assert lines[0]["kind"] == "export"
    assert lines[0]["data"]["user_id"] == me.user_id
    assert lines[-1] == {"kind": "end", "data": {"records": len(lines) - 2}}
    kinds = {line["kind"] for line in lines[1:-1]}
    for kind in (
        "profile",
        "goal",
        "session",
        "workout",
        "import",
        "metric",
        "meal",
        "group_session",
    ):
        assert kind in kinds, kind
    profile = next(line["data"] for line in lines if line["kind"] == "profile")
    assert (profile["email"], profile["birth_date"]) == (me.email, "1990-04-01")
    workout = next(line["data"] for line in lines if line["kind"] == "workout")
    assert workout["distance_m"] == 10_000
    for secret in ("password", "token_hash", me.token, PASSWORD):
        assert secret not in text
    assert other.user_id not in text
    theirs = await api.get(f"/users/{me.user_id}/export", headers=other.headers)
    assert theirs.status_code == 403


USER_TABLES = """
SELECT c.table_name FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.column_name = 'user_id' AND c.table_schema = current_schema()
  AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name
"""


async def _traces_in_postgres(database_url: str, user_id: str) -> dict[str, int]:
    """The user's rows in every table that has a `user_id` column, found by the catalogue so
    that a table added later is counted too."""
    found: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        tables = [row[0] for row in await (await conn.execute(USER_TABLES)).fetchall()]
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {} WHERE user_id::text = %s")
            cur = await conn.execute(query.format(sql.Identifier(table)), (user_id,))
            row = await cur.fetchone()
            found[table] = row[0] if row else 0
    return found


async def _traces_in_mongo(url: str, database: str, user_id: str) -> list[str]:
    """Every document of every collection that mentions the user, anywhere in it."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        db = client[database]
        found = []
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                if user_id in json.dumps(doc, default=str):
                    found.append(f"{name}:{doc['_id']}")
        return found
    finally:
        await client.close()


async def _traces_in_redis(url: str, user_id: str) -> list[str]:
    redis = aioredis.from_url(url, decode_responses=True)
    found = []
    try:
        async for key in redis.scan_iter(count=1000):
            kind = await redis.type(key)
            if user_id in key:
                found.append(key)
            elif kind == "stream":
                entries: list[tuple[str, dict[str, str]]] = await redis.xrange(key)  # type: ignore[assignment]
                found += [f"{key}/{i}" for i, fields in entries if user_id in json.dumps(fields)]
            elif kind == "hash":
                if user_id in json.dumps(await redis.hgetall(key)):
                    found.append(key)
            elif kind == "string" and user_id in (await redis.get(key) or ""):
                found.append(key)
    finally:
        await redis.aclose()
    return found


async def test_erasure_asks_the_password_and_leaves_nothing_anywhere(
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    user_service_env: dict[str, str],
    activity_service_env: dict[str, str],
    redis_server: Server,
) -> None:
    me, other = await sign_up(api), await sign_up(api)
    await _fill(api, gateway, me)
    await _fill(api, gateway, other)
    # The user speaks in two sessions of another: one ended before the erasure, one still
    # live through it (its archive is made after).
    ended = await _meet(api, gateway, other, me)
    await _end(api, other, ended)
    live = await _meet(api, gateway, other, me)
    _, lines = await _export(api, me)
    (joined,) = [line["data"] for line in lines if line["kind"] == "group_session_joined"]
    assert joined["session_id"] == ended.session_id
    assert [m["text"] for m in joined["messages"]] == [ended.guest_said]
    assert [m["user_id"] for m in joined["exercise_updates"]] == [me.user_id]
    laptop = await api.post("/users/login", json={"email": me.email, "password": PASSWORD})
    stats = await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)  # cached
    assert stats.status_code == 200

    wrong = await api.request(
        "DELETE", f"/users/{me.user_id}", headers=me.headers, json={"password": "not it"}
    )
    assert wrong.status_code == 403
    assert (await api.get(f"/users/{me.user_id}", headers=me.headers)).status_code == 200
    theirs = await api.request(
        "DELETE", f"/users/{me.user_id}", headers=other.headers, json={"password": PASSWORD}
    )
    assert theirs.status_code == 403

    gone = await api.request(
        "DELETE", f"/users/{me.user_id}", headers=me.headers, json={"password": PASSWORD}
    )
    assert gone.status_code == 204, gone.text
    await asyncio.sleep(0.2)  # the gateway hears the revocations on Redis
    for token in (me.token, laptop.json()["token"]):
        answer = await api.get(f"/users/{me.user_id}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
    relog = await api.post("/users/login", json={"email": me.email, "password": PASSWORD})
    assert relog.status_code == 401

    await _end(api, other, live)
    rows = await _traces_in_postgres(user_service_env["DATABASE_URL"], me.user_id)
    assert {"users", "goals", "notifications", "sessions", "workout_versions"} <= set(rows)
    assert {table: n for table, n in rows.items() if n} == {}
    mongo_url, database = (
        activity_service_env["MONGODB_URL"],
        activity_service_env["MONGODB_DATABASE"],
    )
    assert await _traces_in_mongo(mongo_url, database, me.user_id) == []
    for meeting in (ended, live):
        assert await _traces_in_mongo(mongo_url, database, meeting.guest_said) == []
        await _only_the_host_is_left(api, other, meeting)
    # Only the rate limiter's counters of the last requests are left, and the cache's marks
    # that its entries were erased (so no answer loaded before is stored after): no content,
    # gone within two minutes.
    redis = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        for key in await _traces_in_redis(redis_server.url, me.user_id):
            mark = key.startswith("fitmesh:cache:") and key.endswith(":v")
            assert key.startswith("fitmesh:ratelimit:") or mark, key
            if mark:
                assert await redis.get(key) == "erased", key
            assert 0 < await redis.pttl(key) <= 120_000, key
    finally:
        await redis.aclose()
    # The other user's data is all there.
    _, lines = await _export(api, other)
    kinds = {line["kind"] for line in lines}
    assert {"profile", "goal", "workout", "metric", "meal", "group_session"} <= kinds
    assert await _traces_in_mongo(mongo_url, database, other.user_id) != []


async def _only_the_host_is_left(api: httpx.AsyncClient, host: Account, meeting: Meeting) -> None:
    """The archive as its owner reads it: the guest is gone, the owner's own words stay."""
    url = f"/group-sessions/{meeting.session_id}"
    state = await api.get(url, headers=host.headers)
    assert state.status_code == 200, state.text
    assert (state.json()["participants"], state.json()["message_count"]) == ([host.user_id], 1)
    page = await api.get(f"{url}/messages", headers=host.headers)
    assert page.status_code == 200, page.text
    said = [(m["user_id"], m["message"]) for m in page.json()["items"]]
    assert said == [(host.user_id, meeting.host_said)]
