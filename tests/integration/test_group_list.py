"""The group sessions a user took part in: live and ended, owned and joined, newest start
first, a page at a time; nobody else's, and nobody else's list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from devstack import services
from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit import pagination
from servicekit.protofields import timestamp
from servicekit.status import field_violations
from tests.helpers import Account, rpc_error, sign_up
from tests.wsclient import Member

NUL_TOKEN = pagination.encode(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "a\x00b")


async def _listed(api: httpx.AsyncClient, reader: Account, limit: int = 20) -> list[dict[str, Any]]:
    """Every page of the reader's list, checked for size and cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await api.get(
            f"/users/{reader.user_id}/group-sessions", headers=reader.headers, params=params
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def _create(api: httpx.AsyncClient, owner: Account, name: str) -> str:
    created = await api.post(
        "/group-sessions", headers=owner.headers, json={"name": name, "workout_type": "cycling"}
    )
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


async def test_owners_and_members_list_live_and_ended_sessions_and_strangers_do_not(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    ada, bob, eve = await sign_up(api), await sign_up(api), await sign_up(api)
    hills = await _create(api, ada, "Hills")  # ada never joins her own: still hers
    b = await Member.connect(gateway.url, bob.token, bob.user_id)
    await b.join(hills)
    ended = await api.post(f"/group-sessions/{hills}/end", headers=ada.headers)
    assert ended.status_code == 200, ended.text
    await b.close()
    sprint = await _create(api, bob, "Sprint")
    a = await Member.connect(gateway.url, ada.token, ada.user_id)
    await a.join(sprint)

    for reader in (ada, bob):
        listed = await _listed(api, reader)
        assert [(s["session_id"], s["status"]) for s in listed] == [
            (sprint, "active"),
            (hills, "ended"),
        ], reader
        assert listed[0]["members"] == [ada.user_id]
        assert listed[1]["participants"] == sorted([ada.user_id, bob.user_id])
        assert (listed[1]["name"], listed[1]["workout_type"]) == ("Hills", "cycling")
    assert await _listed(api, eve) == []

    # Once it ends, the live session is listed once, as ended, in the same place.
    await api.post(f"/group-sessions/{sprint}/end", headers=bob.headers)
    await a.close()
    listed = await _listed(api, ada, limit=1)
    assert [(s["session_id"], s["status"]) for s in listed] == [
        (sprint, "ended"),
        (hills, "ended"),
    ]

    theirs = await api.get(f"/users/{bob.user_id}/group-sessions", headers=ada.headers)
    assert theirs.status_code == 403
    assert theirs.headers["content-type"] == "application/problem+json"
    for cursor in ("x", NUL_TOKEN):
        forged = await api.get(
            f"/users/{ada.user_id}/group-sessions", headers=ada.headers, params={"cursor": cursor}
        )
        assert forged.status_code == 400
        assert [e["field"] for e in forged.json()["errors"]] == ["cursor"]
    too_many = await api.get(
        f"/users/{ada.user_id}/group-sessions", headers=ada.headers, params={"limit": 101}
    )
    assert too_many.status_code == 400


def _archive(session_id: str, owner: str, members: list[str], start: dt.datetime) -> Any:
    return apb.SaveGroupSessionRequest(
        session=apb.GroupSession(
            session_id=session_id,
            name=f"archive {session_id[:4]}",
            owner_id=owner,
            workout_type=spb.WORKOUT_TYPE_ROWING,
            member_ids=members,
            started_at=timestamp(start),
            ended_at=timestamp(start + dt.timedelta(hours=1)),
        )
    )


async def test_pages_go_through_owned_and_joined_sessions_newest_first_each_once(
    api: httpx.AsyncClient, activity_stub: Any
) -> None:
    ada = await sign_up(api)
    other = str(uuid.uuid4())
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    # Owned, joined, both (an owner who joined), someone else's; two share a start time.
    plan = [
        (ada.user_id, [], start),
        (other, [ada.user_id], start + dt.timedelta(days=1)),
        (ada.user_id, [ada.user_id, other], start + dt.timedelta(days=2)),
        (other, [other, ada.user_id], start + dt.timedelta(days=2)),
        (other, [ada.user_id], start + dt.timedelta(days=3)),
        (other, [other], start + dt.timedelta(days=4)),
    ]
    ids = [uuid.uuid4().hex for _ in plan]
    for session_id, (owner, members, at) in zip(ids, plan, strict=True):
        await activity_stub.SaveGroupSession(_archive(session_id, owner, members, at), timeout=10)
    mine = [(at, session_id) for session_id, (_, _, at) in zip(ids, plan, strict=True)][:5]
    expected = [session_id for _, session_id in sorted(mine, reverse=True)]

    for limit in (1, 2, 5):
        listed = await _listed(api, ada, limit)
        assert [s["session_id"] for s in listed] == expected, limit
    assert ids[5] not in expected


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (apb.ListGroupSessionsRequest(user_id=""), {"user_id"}),
        (apb.ListGroupSessionsRequest(user_id="u\x00"), {"user_id"}),
        (apb.ListGroupSessionsRequest(user_id="u", page_size=101), {"page_size"}),
        (apb.ListGroupSessionsRequest(user_id="u", page_token="not a token"), {"page_token"}),
        (apb.ListGroupSessionsRequest(user_id="u", page_token=NUL_TOKEN), {"page_token"}),
    ],
)
async def test_bad_requests_name_their_field(
    activity_stub: Any, request_: apb.ListGroupSessionsRequest, fields: set[str]
) -> None:
    error = await rpc_error(activity_stub.ListGroupSessions(request_, timeout=10))
    assert error.code().name == "INVALID_ARGUMENT"
    assert {v.field for v in field_violations(error)} == fields
