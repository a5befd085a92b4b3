"""How a WebSocket is opened: a single-use ticket (browsers) or a header (other clients),
never a token in the URL; a user's sockets are limited; a socket ends with its token; and
no credential reaches the gateway's log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devstack import services
from devstack.servers import Server
from servicekit import keys
from tests.helpers import Account, sign_up
from tests.wsclient import Member


@pytest_asyncio.fixture
async def ws_gateway(gateway_env: dict[str, str]) -> AsyncIterator[services.HttpProcess]:
    gateway = await services.start_http("gateway", {**gateway_env, "WS_SOCKETS_PER_USER": "2"})
    yield gateway
    gateway.stop()


async def _ticket(api: httpx.AsyncClient, me: Account) -> str:
    issued = await api.post("/ws/tickets", headers=me.headers)
    assert issued.status_code == 201, issued.text
    assert issued.json()["expires_in"] == 30
    ticket: str = issued.json()["ticket"]
    return ticket


async def _close_code(url: str, **options: object) -> int | None:
    async with connect(url, **options) as ws:  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code


async def test_a_ticket_opens_one_socket_and_no_credential_is_logged(
    ws_gateway: services.HttpProcess,
) -> None:
    ws_url = ws_gateway.url.replace("http://", "ws://") + "/api/v1/ws"
    async with httpx.AsyncClient(base_url=f"{ws_gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        ticket = await _ticket(api, me)
        member = await Member.with_ticket(ws_gateway.url, ticket, me.user_id)
        session = await api.post(
            "/group-sessions", headers=me.headers, json={"name": "t", "workout_type": "yoga"}
        )
        joined = await member.join(session.json()["session_id"])
        assert joined["members"] == [me.user_id]
        await member.close()
        # Used once: the same ticket opens nothing.
        assert await _close_code(f"{ws_url}?ticket={ticket}") == 1008
        # A token in the URL is refused, even a valid one.
        assert await _close_code(f"{ws_url}?token={me.token}") == 1008
        header = await Member.connect(ws_gateway.url, me.token, me.user_id)
        await header.send(event="leave_group_session", session_id="nothing")
        assert (await header.wait(lambda f: f.get("event") == "error"))["code"] == "not_joined"
        await header.close()
    await asyncio.sleep(0.5)
    log = ws_gateway.log()
    assert "WebSocket /api/v1/ws" in log  # the connections were logged...
    assert me.token not in log  # ...with no credential
    assert me.token.split(".")[2] not in log
    assert ticket not in log


async def test_tickets_need_a_token(ws_gateway: services.HttpProcess) -> None:
    async with httpx.AsyncClient(base_url=f"{ws_gateway.url}/api/v1", timeout=15) as api:
        refused = await api.post("/ws/tickets")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_user_holds_a_bounded_number_of_sockets(ws_gateway: services.HttpProcess) -> None:
    async with httpx.AsyncClient(base_url=f"{ws_gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        other = await sign_up(api)
    first = await Member.connect(ws_gateway.url, me.token, me.user_id)
    second = await Member.connect(ws_gateway.url, me.token, me.user_id)
    await asyncio.sleep(0.3)
    third = await Member.connect(ws_gateway.url, me.token, me.user_id)
    assert await asyncio.wait_for(third.closed, 5) == 1008
    # Another user is not affected, and a closed socket frees its place.
    someone = await Member.connect(ws_gateway.url, other.token, other.user_id)
    await first.close()
    await asyncio.sleep(0.3)
    again = await Member.connect(ws_gateway.url, me.token, me.user_id)
    await again.send(event="leave_group_session", session_id="nothing")
    assert (await again.wait(lambda f: f.get("event") == "error"))["code"] == "not_joined"
    for member in (second, someone, again):
        await member.close()


async def test_a_socket_closes_when_its_token_expires(
    ws_gateway: services.HttpProcess, dev_keys_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FITMESH_DEV_KEYS_DIR", dev_keys_dir)
    now = dt.datetime.now(dt.UTC)
    user_id = str(uuid.uuid4())
    token = jwt.encode(
        {
            "sub": user_id,
            "iat": now,
            "exp": now + dt.timedelta(seconds=2),
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
            "iss": "fitmesh",
        },
        keys.dev_private_key(),
        algorithm="EdDSA",
    )
    member = await Member.connect(ws_gateway.url, token, user_id)
    assert await asyncio.wait_for(member.closed, 6) == 4401


async def test_without_redis_live_sessions_answer_503_and_sockets_1013(
    gateway_env: dict[str, str], own_redis: Server
) -> None:
    gateway = await services.start_http("gateway", {**gateway_env, "REDIS_URL": own_redis.url})
    try:
        async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
            me = await sign_up(api)
            made = await api.post(
                "/group-sessions", headers=me.headers, json={"name": "t", "workout_type": "yoga"}
            )
            assert made.status_code == 201
            own_redis.kill()
            answers = [
                await api.post(
                    "/group-sessions",
                    headers=me.headers,
                    json={"name": "t", "workout_type": "yoga"},
                ),
                await api.get(f"/group-sessions/{made.json()['session_id']}", headers=me.headers),
                await api.post("/ws/tickets", headers=me.headers),
            ]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert int(answer.headers["retry-after"]) >= 1
            # The profile still reads, from the user service.
            assert (await api.get(f"/users/{me.user_id}", headers=me.headers)).status_code == 200
        await asyncio.sleep(1.5)  # the hub notices its lost connection
        socket = await Member.connect(gateway.url, me.token, me.user_id)
        assert await asyncio.wait_for(socket.closed, 5) == 1013
    finally:
        gateway.stop()


async def test_a_binary_frame_closes_with_1003_and_no_traceback(
    ws_gateway: services.HttpProcess,
) -> None:
    async with httpx.AsyncClient(base_url=f"{ws_gateway.url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
    member = await Member.connect(ws_gateway.url, me.token, me.user_id)
    await member.ws.send(b"\x00\x01binary")
    assert await asyncio.wait_for(member.closed, 5) == 1003
    await asyncio.sleep(0.3)
    assert "Traceback" not in ws_gateway.log()
