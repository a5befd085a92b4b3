"""Group sessions after they end: those who took part read the participants and the whole
transcript a page at a time; anyone else finds nothing there."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from devstack import services
from fitmesh.activity.v1 import activity_pb2 as apb
from servicekit.protofields import timestamp
from tests.helpers import Account, rpc_error, sign_up
from tests.wsclient import Member


async def _session(api: httpx.AsyncClient, owner: Account) -> str:
    created = await api.post(
        "/group-sessions", headers=owner.headers, json={"name": "Hills", "workout_type": "running"}
    )
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    return session_id


async def _read_all(api: httpx.AsyncClient, reader: Account, session_id: str) -> list[str]:
    texts: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.get(
            f"/group-sessions/{session_id}/messages", headers=reader.headers, params=params
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 3
        texts += [m["message"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return texts


async def test_members_read_an_ended_session_and_strangers_get_404(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    ada, bob, eve = await sign_up(api), await sign_up(api), await sign_up(api)
    session_id = await _session(api, ada)
    a = await Member.connect(gateway.url, ada.token, ada.user_id)
    b = await Member.connect(gateway.url, bob.token, bob.user_id)
    await a.join(session_id)
    await b.join(session_id)
    live = await api.get(f"/group-sessions/{session_id}", headers=eve.headers)
    assert live.status_code == 200  # a live session is open to whoever has its id
    assert live.json()["participants"] == sorted([ada.user_id, bob.user_id])
    early = await api.get(f"/group-sessions/{session_id}/messages", headers=ada.headers)
    assert early.status_code == 409

    sent = [f"message {n}" for n in range(7)]
    for n, text in enumerate(sent):
        speaker = a if n % 2 == 0 else b
        await speaker.send(event="send_message", session_id=session_id, message=text)
        await a.wait(lambda f, text=text: f.get("data", {}).get("message") == text)
    ended = await api.post(f"/group-sessions/{session_id}/end", headers=ada.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["message_count"] == 7
    await a.close()
    await b.close()

    summary = await api.get(f"/group-sessions/{session_id}", headers=bob.headers)
    assert summary.status_code == 200, summary.text
    assert summary.json()["status"] == "ended"
    assert summary.json()["participants"] == sorted([ada.user_id, bob.user_id])
    assert summary.json()["message_count"] == 7
    assert await _read_all(api, bob, session_id) == sent
    assert await _read_all(api, ada, session_id) == sent

    for path in (f"/group-sessions/{session_id}", f"/group-sessions/{session_id}/messages"):
        stranger = await api.get(path, headers=eve.headers)
        assert stranger.status_code == 404, path
    forged = await api.get(
        f"/group-sessions/{session_id}/messages", headers=bob.headers, params={"cursor": "x"}
    )
    assert forged.status_code == 400


def _archive(session_id: str, owner: str, texts: list[str]) -> apb.GroupSession:
    start = dt.datetime(2026, 5, 1, 7, tzinfo=dt.UTC)
    return apb.GroupSession(
        session_id=session_id,
        name="archive",
        owner_id=owner,
        member_ids=[owner],
        messages=[
            apb.GroupMessage(
                user_id=owner, text=t, sent_at=timestamp(start + dt.timedelta(seconds=n))
            )
            for n, t in enumerate(texts)
        ],
        started_at=timestamp(start),
        ended_at=timestamp(start + dt.timedelta(hours=1)),
    )


async def _transcript(stub: Any, session_id: str, member_id: str) -> list[str]:
    reply = await stub.ListGroupMessages(
        apb.ListGroupMessagesRequest(session_id=session_id, member_id=member_id, page_size=100),
        timeout=10,
    )
    return [m.text for m in reply.messages]


async def test_saving_an_archive_again_stores_each_message_once(activity_stub: Any) -> None:
    session_id, owner = uuid.uuid4().hex, str(uuid.uuid4())
    texts = [f"t{n}" for n in range(5)]
    for _ in range(2):
        await activity_stub.SaveGroupSession(
            apb.SaveGroupSessionRequest(session=_archive(session_id, owner, texts)), timeout=10
        )
    assert await _transcript(activity_stub, session_id, owner) == texts
    await activity_stub.SaveGroupSession(
        apb.SaveGroupSessionRequest(session=_archive(session_id, owner, texts[:2])), timeout=10
    )
    assert await _transcript(activity_stub, session_id, owner) == texts[:2]
    # Another session's transcript is not reachable through this one's id range.
    other = uuid.uuid4().hex
    await activity_stub.SaveGroupSession(
        apb.SaveGroupSessionRequest(session=_archive(other, owner, ["else"])), timeout=10
    )
    assert await _transcript(activity_stub, session_id, owner) == texts[:2]
    stranger = await rpc_error(
        activity_stub.ListGroupMessages(
            apb.ListGroupMessagesRequest(session_id=session_id, member_id="someone"), timeout=10
        )
    )
    assert stranger.code().name == "NOT_FOUND"
    summary = await activity_stub.GetGroupSession(
        apb.GetGroupSessionRequest(session_id=session_id, member_id=owner, summary=True),
        timeout=10,
    )
    assert (summary.session.message_count, len(summary.session.messages)) == (2, 0)
