"""Live group sessions across two gateway replicas: chat order, alerts, leaving, ending,
archiving, and what hostile or broken clients get."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio

from devstack import services
from fitmesh.activity.v1 import activity_pb2 as apb
from tests.helpers import Account, sign_up, wait_for
from tests.wsclient import Member, stalled_socket

TOMORROW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()


@pytest_asyncio.fixture(scope="module")
async def replicas(
    gateway: services.HttpProcess, second_gateway: services.HttpProcess
) -> AsyncIterator[tuple[str, str]]:
    yield gateway.url, second_gateway.url


async def member(url: str, account: Account, **options: Any) -> Member:
    return await Member.connect(url, account.token, account.user_id, **options)


async def new_session(api: httpx.AsyncClient, owner: Account, name: str = "run") -> str:
    created = await api.post(
        "/group-sessions", headers=owner.headers, json={"name": name, "workout_type": "running"}
    )
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


async def test_members_on_two_replicas_see_every_message_once_in_one_order(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    one, two = replicas
    ada, bob, cy = await sign_up(api), await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada)
    members = [await member(one, ada), await member(two, bob), await member(one, cy)]
    for m in members:
        await m.join(session_id)

    async def chatter(m: Member) -> None:
        for i in range(25):
            await m.send(event="send_message", session_id=session_id, message=f"{m.user_id}:{i}")
            await asyncio.sleep(0.005)

    await asyncio.gather(*(chatter(m) for m in members))
    for m in members:
        await wait_for(lambda m=m: _count(m, 75), timeout=15)
    orders = [[u["data"]["message"] for u in m.updates("chat_message")] for m in members]
    assert orders[0] == orders[1] == orders[2]  # the same order everywhere
    assert len(set(orders[0])) == 75  # none lost, none doubled
    for m in members:  # each sender's own messages in the order sent
        mine = [text for text in orders[0] if text.startswith(m.user_id)]
        assert mine == [f"{m.user_id}:{i}" for i in range(25)]
    state = await api.get(f"/group-sessions/{session_id}", headers=bob.headers)
    assert sorted(state.json()["members"]) == sorted([ada.user_id, bob.user_id, cy.user_id])
    for m in members:
        await m.close()


def _left_frame(frame: dict[str, Any], user_id: str) -> bool:
    return frame.get("update_type") == "member_left" and frame["data"]["user_id"] == user_id


def _left(m: Member, user_id: str) -> bool:
    return any(_left_frame(f, user_id) for f in m.frames)


async def _count(m: Member, n: int) -> bool:
    return len(m.updates("chat_message")) >= n


async def test_joined_snapshot_carries_recent_messages(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    ada, bob = await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada)
    first = await member(replicas[0], ada)
    await first.join(session_id)
    for i in range(3):
        await first.send(event="send_message", session_id=session_id, message=f"warm-up {i}")
    await first.wait(lambda f: f.get("data", {}).get("message") == "warm-up 2")
    late = await member(replicas[1], bob)
    joined = await late.join(session_id)
    assert [m["message"] for m in joined["recent_messages"]] == [
        "warm-up 0",
        "warm-up 1",
        "warm-up 2",
    ]
    assert sorted(joined["members"]) == sorted([ada.user_id, bob.user_id])
    seen = await first.wait(
        lambda f: f.get("update_type") == "member_joined" and f["data"]["user_id"] == bob.user_id
    )
    assert seen["session_id"] == session_id
    await asyncio.sleep(0.3)
    assert late.updates("chat_message") == []  # the snapshot's messages are not sent again
    await first.close()
    await late.close()


async def test_goal_achieved_reaches_every_socket_of_the_user_within_a_second(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    me = await sign_up(api)
    goal = await api.post(
        f"/users/{me.user_id}/goals",
        headers=me.headers,
        json={"goal_type": "workouts_count", "target_value": 1, "target_date": TOMORROW},
    )
    sockets = [await member(replicas[0], me), await member(replicas[1], me)]
    started = await api.post("/workouts/start", headers=me.headers, json={"workout_type": "hiit"})
    began = time.perf_counter()
    ended = await api.post(f"/workouts/{started.json()['session_id']}/end", headers=me.headers)
    assert ended.status_code == 200
    for socket in sockets:
        alert = await socket.wait(lambda f: f.get("event") == "goal_achieved", timeout=5)
        assert alert["data"]["goal_id"] == goal.json()["goal_id"]
        assert alert["data"]["status"] == "achieved"
    assert time.perf_counter() - began < 1.0
    for socket in sockets:
        await socket.close()


async def test_a_killed_socket_shows_member_left(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    ada, bob = await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada)
    staying, dying = await member(replicas[0], ada), await member(replicas[1], bob)
    await staying.join(session_id)
    await dying.join(session_id)
    dying.ws.transport.abort()  # no close frame: the connection just dies
    left = await staying.wait(lambda f: f.get("update_type") == "member_left", timeout=10)
    assert left["data"]["user_id"] == bob.user_id
    state = await api.get(f"/group-sessions/{session_id}", headers=ada.headers)
    assert state.json()["members"] == [ada.user_id]
    await staying.close()


async def test_ending_archives_the_session_for_everyone(
    api: httpx.AsyncClient, replicas: tuple[str, str], activity_stub: Any
) -> None:
    ada, bob = await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada, "Tempo Tuesday")
    a, b = await member(replicas[0], ada), await member(replicas[1], bob)
    await a.join(session_id)
    await b.join(session_id)
    await a.send(event="send_message", session_id=session_id, message="ready?")
    await b.wait(lambda f: f.get("data", {}).get("message") == "ready?")
    await b.send(event="send_message", session_id=session_id, message="go!")
    await b.send(event="exercise_update", session_id=session_id, data={"km": 1, "hr": 150})
    await a.wait(lambda f: f.get("update_type") == "exercise_update")
    refused = await api.post(f"/group-sessions/{session_id}/end", headers=bob.headers)
    assert refused.status_code == 403
    ended = await api.post(f"/group-sessions/{session_id}/end", headers=ada.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    for m in (a, b):
        await m.wait(lambda f: f.get("update_type") == "session_ended")
    again = await api.post(f"/group-sessions/{session_id}/end", headers=ada.headers)
    assert again.status_code == 409
    archive = await activity_stub.GetGroupSession(
        apb.GetGroupSessionRequest(session_id=session_id), timeout=10
    )
    stored = archive.session
    assert (stored.name, stored.owner_id) == ("Tempo Tuesday", ada.user_id)
    assert [m.text for m in stored.messages] == ["ready?", "go!"]
    assert sorted(stored.member_ids) == sorted([ada.user_id, bob.user_id])
    assert stored.exercise_updates[0].user_id == bob.user_id
    assert '"hr": 150' in stored.exercise_updates[0].data_json
    await b.send(event="send_message", session_id=session_id, message="late")
    error = await b.wait(lambda f: f.get("event") == "error")
    assert error["code"] == "not_joined"
    await a.close()
    await b.close()


async def test_broken_frames_get_error_frames_and_the_socket_stays(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    ada, bob = await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada)
    m = await member(replicas[0], ada)
    await m.ws.send("{not json")
    await m.send(event="dance")
    await m.send(event="join_group_session")
    await m.send(event="join_group_session", session_id="no-such-session")
    await m.send(event="send_message", session_id=session_id, message="before joining")
    await m.join(session_id)
    await m.send(event="send_message", session_id=session_id, message="x" * 2001)
    await m.send(event="send_message", session_id=session_id, message="hi", user_id=bob.user_id)
    await m.send(event="exercise_update", session_id=session_id, data="not an object")
    await m.send(event="send_message", session_id=session_id, message="still here")
    await m.wait(lambda f: f.get("data", {}).get("message") == "still here")
    codes = [f["code"] for f in m.frames if f.get("event") == "error"]
    assert codes == [
        "invalid_json",
        "unknown_event",
        "invalid_session",
        "not_found",
        "not_joined",
        "message_too_long",
        "forbidden",
        "invalid_data",
    ]
    await m.close()


async def test_floods_oversize_frames_and_bad_tokens_are_closed(
    api: httpx.AsyncClient, replicas: tuple[str, str]
) -> None:
    me = await sign_up(api)
    bad = await Member.connect(replicas[0], "not-a-token", me.user_id)
    assert await asyncio.wait_for(bad.closed, 5) == 1008
    flood = await member(replicas[0], me)
    for _ in range(200):
        try:
            await flood.send(event="dance")
        except Exception:  # the server may close while we still write
            break
    assert await asyncio.wait_for(flood.closed, 5) == 1008
    big = await member(replicas[1], me)
    await big.send(event="send_message", session_id="x", message="y" * 20_000)
    assert await asyncio.wait_for(big.closed, 5) == 1009
    # The token may also come in the first frame.
    later = await Member.connect(replicas[1], "", me.user_id)
    await later.send(event="auth", token=me.token)
    await later.send(event="leave_group_session", session_id="nothing")
    error = await later.wait(lambda f: f.get("event") == "error")
    assert error["code"] == "not_joined"
    await later.close()


@pytest_asyncio.fixture
async def tight_gateway(gateway_env: dict[str, str]) -> AsyncIterator[services.HttpProcess]:
    env = {
        **gateway_env,
        "WS_QUEUE_SIZE": "16",
        "WS_FRAMES_PER_SECOND": "5000",
        "WS_FRAME_BURST": "5000",
        "GROUP_IDLE_SECONDS": "1",
    }
    service = await services.start_http("gateway", env)
    yield service
    service.stop()


async def test_a_slow_reader_is_dropped_without_slowing_the_others(
    api: httpx.AsyncClient, tight_gateway: services.HttpProcess
) -> None:
    ada, bob, cy = await sign_up(api), await sign_up(api), await sign_up(api)
    session_id = await new_session(api, ada)
    talker, fast = await member(tight_gateway.url, ada), await member(tight_gateway.url, bob)
    for m in (talker, fast):
        await m.join(session_id)
    stalled = await asyncio.to_thread(
        stalled_socket,
        tight_gateway.url,
        cy.token,
        {"event": "join_group_session", "session_id": session_id},
    )
    await talker.wait(
        lambda f: f.get("update_type") == "member_joined" and f["data"]["user_id"] == cy.user_id
    )
    sent = 0
    while not _left(talker, cy.user_id) and sent < 8000:
        for _ in range(200):
            await talker.send(
                event="send_message", session_id=session_id, message=f"{sent:05d}" + "z" * 1990
            )
            sent += 1
        await asyncio.sleep(0.05)
    left = await talker.wait(lambda f: _left_frame(f, cy.user_id), timeout=15)
    assert left["data"]["user_id"] == cy.user_id
    await wait_for(lambda: _count(fast, sent), timeout=60)
    assert [u["data"]["message"][:5] for u in fast.updates("chat_message")] == [
        f"{i:05d}" for i in range(sent)
    ]
    await talker.close()
    await fast.close()
    stalled.close()


async def test_a_session_everyone_left_ends_after_the_idle_timeout(
    api: httpx.AsyncClient, tight_gateway: services.HttpProcess, activity_stub: Any
) -> None:
    ada = await sign_up(api)
    async with httpx.AsyncClient(base_url=f"{tight_gateway.url}/api/v1", timeout=10) as tight:
        created = await tight.post(
            "/group-sessions", headers=ada.headers, json={"name": "brief", "workout_type": "yoga"}
        )
        session_id = created.json()["session_id"]
        m = await member(tight_gateway.url, ada)
        await m.join(session_id)
        await m.send(event="leave_group_session", session_id=session_id)
        await m.close()

        async def ended() -> bool:
            state = await tight.get(f"/group-sessions/{session_id}", headers=ada.headers)
            return bool(state.json()["status"] == "ended")

        await wait_for(ended, timeout=15, interval=0.2)
    archive = await activity_stub.GetGroupSession(
        apb.GetGroupSessionRequest(session_id=session_id), timeout=10
    )
    assert archive.session.member_ids == [ada.user_id]


async def test_unknown_session_is_404(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    missing = await api.get("/group-sessions/nope", headers=me.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    _ = grpc, pytest
