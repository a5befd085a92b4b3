"""The audit log of personal data against the real gateway, user service, Redis and
PostgreSQL: a record per read and write, the owner's alone, hash-chained so that an edit
made past the database's guard is found at the record edited (the chain verified and
tampering detected); in the export; and erasure leaving one record that names no one.
How records travel is tests/integration/test_audit_delivery.py's."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from psycopg import sql

from devstack import services
from fitmesh.user.v1 import audit_pb2 as pb
from fitmesh.user.v1 import audit_pb2_grpc
from servicekit.audit import AUDIT_STREAM, batch_fields
from tests.helpers import (
    PASSWORD,
    Account,
    audit_log,
    consumed,
    read_profile,
    sign_up,
    unique,
    verify_audit,
    wait_for,
)
from user_service.audit_store import ERASURES

GROUP = "user_service.audit"  # the session user service's audit group
ZEROS = "00" * 32


@pytest_asyncio.fixture(scope="module")
async def audit_stub(
    user_service: services.ServiceProcess,
) -> AsyncIterator[audit_pb2_grpc.AuditServiceStub]:
    async with user_service.channel() as channel:
        yield audit_pb2_grpc.AuditServiceStub(channel)


@pytest.fixture(scope="module")
def database(user_service_env: dict[str, str]) -> str:
    return user_service_env["DATABASE_URL"]


async def test_reads_and_writes_of_personal_data_are_recorded(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    workout = {
        "workout_type": "running",
        "start_time": start.isoformat(),
        "end_time": (start + dt.timedelta(minutes=30)).isoformat(),
    }
    sample = {"metric_type": "heart_rate", "value": 61, "recorded_at": start.isoformat()}
    path = f"/users/{me.user_id}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", path, {"weight_kg": 70.5}),
        ("GET", path, None),
        ("POST", "/workouts", workout),
    ]
    expected = [("update", "profile", 200), ("read", "profile", 200), ("create", "workout", 201)]
    sent: list[str] = []
    for method, url, body in calls:
        sent.append(unique("req-"))
        answer = await api.request(method, url, json=body, headers=_as(me, sent[-1]))
        assert answer.status_code == expected[len(sent) - 1][2], answer.text
    session = answer.json()["session_id"]
    calls = [
        ("GET", f"/workouts/{session}", None),
        ("GET", f"{path}/workouts", None),
        ("POST", "/health-metrics/", sample),
        ("GET", f"/health-metrics/user/{me.user_id}?metric_type=heart_rate", None),
        ("GET", "/workouts/nonexistent", None),
    ]
    expected += [
        ("read", f"workout:{session}", 200),
        ("read", "workouts", 200),
        ("create", "metrics", 201),
        ("read", "metrics:heart_rate", 200),
        ("read", "workout:nonexistent", 404),
    ]
    for method, url, body in calls:
        sent.append(unique("req-"))
        answer = await api.request(method, url, json=body, headers=_as(me, sent[-1]))
        assert answer.status_code == expected[len(sent) - 1][2], answer.text

    records = await audit_log(api, me, len(expected))
    oldest_first = records[::-1]
    assert [(r["action"], r["resource"], r["result"]) for r in oldest_first] == expected
    assert [r["request_id"] for r in oldest_first] == sent
    assert {r["actor_id"] for r in records} == {me.user_id}
    assert [r["seq"] for r in records] == list(range(len(expected), 0, -1))  # newest first
    assert [r["at"] for r in oldest_first] == sorted(r["at"] for r in records)
    # Who, what, which, result, request id, time and the chain: no body, no value.
    assert set(records[0]) == {
        "seq", "at", "actor_id", "action", "resource", "result", "request_id", "prev_hash", "hash"
    }  # fmt: skip
    assert oldest_first[0]["prev_hash"] == ZEROS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(oldest_first))
    checked = await verify_audit(api, me)
    assert checked == {
        "intact": True,
        "records_checked": len(expected),
        "head_hash": records[0]["hash"],
        "first_broken": None,
    }


def _as(me: Account, request_id: str) -> dict[str, str]:
    return {**me.headers, "X-Request-ID": request_id}


async def test_sign_in_sessions_and_the_password_are_recorded(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    laptop = await api.post("/users/login", json={"email": me.email, "password": PASSWORD})
    assert laptop.status_code == 200, laptop.text
    path = f"/users/{me.user_id}"
    listed = await api.get(f"{path}/sessions", headers=me.headers)
    assert listed.status_code == 200, listed.text
    (other,) = [s["session_id"] for s in listed.json()["sessions"] if not s["current"]]
    revoked = await api.delete(f"{path}/sessions/{other}", headers=me.headers)
    assert revoked.status_code == 204, revoked.text
    wrong = {"current_password": "not it", "new_password": "a longer one now"}
    assert (await api.put(f"{path}/password", headers=me.headers, json=wrong)).status_code == 403
    right = {"current_password": PASSWORD, "new_password": "a longer one now"}
    changed = await api.put(f"{path}/password", headers=me.headers, json=right)
    assert changed.status_code == 200, changed.text
    records = await audit_log(api, me, 4)
    assert [(r["action"], r["resource"], r["result"]) for r in records[::-1]] == [
        ("read", "sessions", 200),
        ("delete", f"session:{other}", 204),
        ("update", "password", 403),  # a wrong current password is the account's to see
        ("update", "password", 200),
    ]
    assert (await verify_audit(api, me))["intact"]


async def test_reads_of_a_group_session_are_in_the_readers_log(api: httpx.AsyncClient) -> None:
    owner, stranger = await sign_up(api), await sign_up(api)
    created = await api.post(
        "/group-sessions", headers=owner.headers, json={"name": "ride", "workout_type": "cycling"}
    )
    assert created.status_code == 201, created.text
    session = created.json()["session_id"]
    url = f"/group-sessions/{session}"
    assert (await api.get(url, headers=owner.headers)).status_code == 200  # live
    assert (await api.post(f"{url}/end", headers=owner.headers)).status_code == 200
    assert (await api.get(url, headers=owner.headers)).status_code == 200  # its archive
    assert (await api.get(f"{url}/messages", headers=owner.headers)).status_code == 200
    for path in (url, f"{url}/messages"):  # ended: a stranger learns nothing, and is seen
        assert (await api.get(path, headers=stranger.headers)).status_code == 404
    records = await audit_log(api, owner, 3)
    assert [(r["action"], r["resource"], r["result"]) for r in records[::-1]] == [
        ("read", f"group_session:{session}", 200),
        ("read", f"group_session:{session}", 200),
        ("read", f"group_session:{session}:messages", 200),
    ]
    theirs = await audit_log(api, stranger, 2)
    assert [(r["actor_id"], r["resource"], r["result"]) for r in theirs[::-1]] == [
        (stranger.user_id, f"group_session:{session}", 404),
        (stranger.user_id, f"group_session:{session}:messages", 404),
    ]


async def test_an_id_a_client_made_up_cannot_spoil_the_log(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    answer = await api.get("/workouts/no%00such", headers=me.headers)
    assert answer.status_code in (400, 404)
    (record,) = await audit_log(api, me, 1)
    assert (record["resource"], record["result"]) == ("workout:no\ufffdsuch", answer.status_code)
    assert (await verify_audit(api, me))["intact"]


async def test_pages_go_from_newest_to_oldest(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    await read_profile(api, me, 5)
    everything = await audit_log(api, me, 5)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.get(f"/users/{me.user_id}/audit", params=params, headers=me.headers)
        assert page.status_code == 200, page.text
        seen += [r["seq"] for r in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert seen == [r["seq"] for r in everything] == [5, 4, 3, 2, 1]
    bad = await api.get(
        f"/users/{me.user_id}/audit", params={"cursor": "not-a-cursor"}, headers=me.headers
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_only_the_owner_reads_the_log_and_refusals_are_recorded(
    api: httpx.AsyncClient,
) -> None:
    owner, other = await sign_up(api), await sign_up(api)
    for path in (f"/users/{owner.user_id}/audit", f"/users/{owner.user_id}/audit/verify"):
        refused = await api.get(path, headers=other.headers)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await api.get(path)).status_code == 401
    peek = await api.get(f"/users/{owner.user_id}", headers=other.headers)
    assert peek.status_code == 403
    # The owner learns of the attempt; the one who tried finds nothing of it in theirs.
    records = await audit_log(api, owner, 1)
    assert [(r["actor_id"], r["action"], r["resource"], r["result"]) for r in records] == [
        (other.user_id, "read", "profile", 403)
    ]
    await read_profile(api, other, 1)
    assert [r["resource"] for r in await audit_log(api, other, 1)] == ["profile"]


async def test_chain_verified_and_tamper_detected(api: httpx.AsyncClient, database: str) -> None:
    me = await sign_up(api)
    await read_profile(api, me, 5)
    records = await audit_log(api, me, 5)
    assert (await verify_audit(api, me))["intact"]
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        # The guard: an application's UPDATE or DELETE is refused.
        for statement in ("UPDATE audit_log SET result = 200", "DELETE FROM audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(f"{statement} WHERE user_id = %s", (me.user_id,))
        # A superuser goes past it: triggers off for the session, one record rewritten.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            "UPDATE audit_log SET resource = 'goals' WHERE user_id = %s AND seq = 3",
            (me.user_id,),
        )
    checked = await verify_audit(api, me)
    assert not checked["intact"]
    broken = checked["first_broken"]
    assert (broken["seq"], broken["problem"]) == (3, "its contents do not match its hash")
    assert broken["record"]["resource"] == "goals"
    assert broken["record"]["hash"] == records[-3]["hash"]  # the hash it was stored with
    assert checked["records_checked"] == 3


async def test_records_taken_out_are_found_missing(api: httpx.AsyncClient, database: str) -> None:
    middle, end = await sign_up(api), await sign_up(api)
    for me in (middle, end):
        await read_profile(api, me, 4)
        await audit_log(api, me, 4)
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            "DELETE FROM audit_log WHERE user_id = %s AND seq = 2", (middle.user_id,)
        )
        await conn.execute("DELETE FROM audit_log WHERE user_id = %s AND seq = 4", (end.user_id,))
    for me, seq in ((middle, 2), (end, 4)):
        broken = (await verify_audit(api, me))["first_broken"]
        assert (broken["seq"], broken["problem"], broken["record"]) == (
            seq,
            "record missing",
            None,
        )


async def test_erasure_leaves_one_record_that_names_no_one(
    api: httpx.AsyncClient,
    redis: aioredis.Redis,
    database: str,
    audit_stub: audit_pb2_grpc.AuditServiceStub,
) -> None:
    me = await sign_up(api)
    await read_profile(api, me, 2)
    path = f"/users/{me.user_id}"
    wrong = await api.request("DELETE", path, headers=me.headers, json={"password": "not it"})
    assert wrong.status_code == 403
    records = await audit_log(api, me, 3)
    assert [(r["action"], r["resource"], r["result"]) for r in records[:1]] == [
        ("erase", "account", 403)  # an attempt that failed is the account's to see
    ]
    request_id = unique("req-")
    gone = await api.request(
        "DELETE", path, headers=_as(me, request_id), json={"password": PASSWORD}
    )
    assert gone.status_code == 204, gone.text
    async with await psycopg.AsyncConnection.connect(database) as conn:
        for table in ("audit_log", "audit_chains"):
            query = sql.SQL("SELECT count(*) FROM {} WHERE user_id = %s")
            cur = await conn.execute(query.format(sql.Identifier(table)), (me.user_id,))
            assert await cur.fetchone() == (0,), table
    page = await audit_stub.ListAudit(
        pb.ListAuditRequest(user_id=str(ERASURES), page_size=1), timeout=10
    )
    (last,) = page.records
    assert (last.action, last.actor_id, last.resource, last.request_id) == (
        pb.AUDIT_ACTION_ERASE,
        "",
        f"audit_chain:{records[0]['hash']}",
        request_id,
    )
    assert me.user_id not in str(last)
    erasures = pb.VerifyAuditRequest(user_id=str(ERASURES))
    assert (await audit_stub.VerifyAudit(erasures, timeout=10)).intact
    # A record of the account still on its way when it went is not stored: no chain revives.
    late: dict[Any, Any] = batch_fields(
        f"late-{uuid.uuid4().hex}",
        [(me.user_id, me.user_id, "read", "profile", 200, "late", time.time_ns() // 1000)],
    )
    await redis.xadd(AUDIT_STREAM, late)
    await wait_for(lambda: consumed(redis, GROUP, AUDIT_STREAM))
    gone_chain = await audit_stub.VerifyAudit(pb.VerifyAuditRequest(user_id=me.user_id), timeout=10)
    assert (gone_chain.intact, gone_chain.records_checked, gone_chain.head_hash) == (True, 0, b"")


async def test_the_export_carries_the_audit_log(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    await read_profile(api, me, 2)
    records = await audit_log(api, me, 2)
    export = await api.get(f"/users/{me.user_id}/export", headers=me.headers)
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.text.splitlines()]
    exported = [line["data"] for line in lines if line["kind"] == "audit"]
    assert [(r["seq"], r["resource"], r["hash"]) for r in exported] == [
        (r["seq"], r["resource"], r["hash"]) for r in reversed(records)
    ]
    # The export itself is recorded (once its answer started).
    after = await audit_log(api, me, 3)
    assert (after[0]["action"], after[0]["resource"], after[0]["result"]) == (
        "export",
        "account",
        200,
    )


async def test_a_bad_account_id_is_an_invalid_argument(
    audit_stub: audit_pb2_grpc.AuditServiceStub,
) -> None:
    for call in (
        audit_stub.ListAudit(pb.ListAuditRequest(user_id="nope"), timeout=10),
        audit_stub.VerifyAudit(pb.VerifyAuditRequest(user_id="nope"), timeout=10),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
