"""Sign-in sessions through the gateway: refresh tokens rotate and a reused one signs the
session out; logout, a password change and signing a device out end sessions, and every
gateway refuses their access tokens at once (also one that starts afterwards) and closes
their WebSockets."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from devstack import services
from tests.helpers import PASSWORD, Account, sign_up, wait_for
from tests.wsclient import Member


async def _login(api: httpx.AsyncClient, me: Account, agent: str = "test") -> dict[str, Any]:
    answer = await api.post(
        "/users/login",
        json={"email": me.email, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['token']}"}


async def _status(api: httpx.AsyncClient, me: Account, tokens: dict[str, Any]) -> int:
    return (await api.get(f"/users/{me.user_id}", headers=_bearer(tokens))).status_code


async def _refused(api: httpx.AsyncClient, me: Account, tokens: dict[str, Any]) -> None:
    """The session's access token is refused (the gateway hears of it on Redis)."""

    async def refused() -> bool:
        return await _status(api, me, tokens) == 401

    await wait_for(refused, timeout=5)
    answer = await api.get(f"/users/{me.user_id}", headers=_bearer(tokens))
    assert answer.json()["detail"] == "the session has ended; sign in again"


async def test_a_refresh_token_rotates_and_works_once(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    first = await _login(api, me)
    assert first["refresh_expires_in"] == 30 * 86400
    assert len(first["refresh_token"]) >= 40
    assert len(first["session_id"]) == 36

    second = await api.post("/users/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["session_id"] == first["session_id"]
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["token"] != first["token"]
    assert await _status(api, me, pair) == 200
    assert await _status(api, me, first) == 200  # the session lives: its older token too

    third = await api.post("/users/refresh", json={"refresh_token": pair["refresh_token"]})
    assert third.status_code == 200, third.text


async def test_reuse_of_a_spent_refresh_token_signs_the_session_out(
    api: httpx.AsyncClient,
) -> None:
    me = await sign_up(api)
    stolen = await _login(api, me)
    other_device = await _login(api, me)
    rotated = await api.post("/users/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert rotated.status_code == 200

    replay = await api.post("/users/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert replay.status_code == 401
    assert replay.headers["content-type"] == "application/problem+json"
    # The whole session ends: the legitimate holder's newer tokens stop working too.
    newer = await api.post(
        "/users/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert newer.status_code == 401
    await _refused(api, me, rotated.json())
    assert await _status(api, me, other_device) == 200  # another session is untouched


async def test_racing_refreshes_of_one_token_let_one_win(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    tokens = await _login(api, me)
    answers = await asyncio.gather(
        *(
            api.post("/users/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    # The losers were reuse: the session is over for the winner too.
    winner = next(a.json() for a in answers if a.status_code == 200)
    await _refused(api, me, winner)


async def test_logout_ends_the_session_and_says_nothing_of_other_tokens(
    api: httpx.AsyncClient,
) -> None:
    me = await sign_up(api)
    tokens = await _login(api, me)
    assert (
        await api.post("/users/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    await _refused(api, me, tokens)
    again = await api.post("/users/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    for token in (tokens["refresh_token"], "never-issued"):
        assert (await api.post("/users/logout", json={"refresh_token": token})).status_code == 204
    empty = await api.post("/users/logout", json={"refresh_token": ""})
    assert empty.status_code == 400


async def test_a_password_change_signs_out_every_other_session(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    here, there = await _login(api, me, "laptop"), await _login(api, me, "phone")
    path = f"/users/{me.user_id}/password"

    wrong = await api.put(
        path,
        headers=_bearer(here),
        json={"current_password": "not it at all", "new_password": "x" * 12},
    )
    assert wrong.status_code == 403
    short = await api.put(
        path, headers=_bearer(here), json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 400
    assert [e["field"] for e in short.json()["errors"]] == ["new_password"]
    stranger = await sign_up(api)
    assert (
        await api.put(
            path,
            headers=stranger.headers,
            json={"current_password": PASSWORD, "new_password": "y" * 12},
        )
    ).status_code == 403

    changed = await api.put(
        path, headers=_bearer(here), json={"current_password": PASSWORD, "new_password": "z" * 12}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"signed_out": 2}  # the phone, and the sign-up's own login
    await _refused(api, me, there)
    assert await _status(api, me, here) == 200
    old = await api.post("/users/login", json={"email": me.email, "password": PASSWORD})
    assert old.status_code == 401
    new = await api.post("/users/login", json={"email": me.email, "password": "z" * 12})
    assert new.status_code == 200


async def test_the_session_list_names_devices_and_signs_one_out(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)  # its own login is a session too
    laptop, phone = await _login(api, me, "laptop/1.0"), await _login(api, me, "phone/2.0")
    listed = await api.get(f"/users/{me.user_id}/sessions", headers=_bearer(laptop))
    assert listed.status_code == 200, listed.text
    sessions = listed.json()["sessions"]
    assert [s["user_agent"] for s in sessions[:2]] == ["phone/2.0", "laptop/1.0"]
    assert [s["current"] for s in sessions] == [False, True, False]

    gone = await api.delete(
        f"/users/{me.user_id}/sessions/{phone['session_id']}", headers=_bearer(laptop)
    )
    assert gone.status_code == 204
    await _refused(api, me, phone)
    after = await api.get(f"/users/{me.user_id}/sessions", headers=_bearer(laptop))
    assert phone["session_id"] not in [s["session_id"] for s in after.json()["sessions"]]
    again = await api.delete(
        f"/users/{me.user_id}/sessions/{phone['session_id']}", headers=_bearer(laptop)
    )
    assert again.status_code == 404
    stranger = await sign_up(api)
    theirs = await api.get(f"/users/{me.user_id}/sessions", headers=stranger.headers)
    assert theirs.status_code == 403


async def test_a_socket_closes_when_its_session_is_signed_out(
    api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    me = await sign_up(api)
    tokens, other = await _login(api, me), await _login(api, me)
    member = await Member.connect(gateway.url, tokens["token"], me.user_id)
    bystander = await Member.connect(gateway.url, other["token"], me.user_id)
    await api.post("/users/logout", json={"refresh_token": tokens["refresh_token"]})
    assert await asyncio.wait_for(member.closed, 5) == 4401
    assert not bystander.closed.done()
    await bystander.close()
    # A ticket asked for with the revoked token is not issued.
    ticket = await api.post("/ws/tickets", headers=_bearer(tokens))
    assert ticket.status_code == 401


async def test_a_gateway_that_starts_later_knows_earlier_revocations(
    api: httpx.AsyncClient, gateway_env: dict[str, str]
) -> None:
    me = await sign_up(api)
    tokens = await _login(api, me)
    await api.post("/users/logout", json={"refresh_token": tokens["refresh_token"]})
    late = await services.start_http("gateway", gateway_env)
    try:
        async with httpx.AsyncClient(base_url=f"{late.url}/api/v1", timeout=15) as fresh:
            assert await _status(fresh, me, tokens) == 401
            assert await _status(fresh, me, await _login(fresh, me)) == 200
    finally:
        late.stop()
