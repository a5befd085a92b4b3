"""The web page's sign-in session through the gateway: the refresh token only ever in an
httpOnly, SameSite=Strict cookie scoped to /api/v1/web (Secure outside development), routes
that refuse what another site could make a browser send, rotation on every refresh, and a
logout that ends the session and clears the cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest_asyncio

from devstack import services
from servicekit import keys
from tests.helpers import PASSWORD, Account, sign_up, wait_for

CSRF = {"X-Fitmesh-CSRF": "1"}
COOKIE = "fitmesh_refresh"


@pytest_asyncio.fixture
async def browser_like(gateway: services.HttpProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar, at the gateway's root, as the page is."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=15) as client:
        yield client


def set_cookie(answer: httpx.Response) -> SimpleCookie:
    (header,) = answer.headers.get_list("set-cookie")
    cookie = SimpleCookie()
    cookie.load(header)
    return cookie


async def open_session(client: httpx.AsyncClient, me: Account) -> httpx.Response:
    answer = await client.post(
        "/api/v1/web/session", json={"email": me.email, "password": PASSWORD}, headers=CSRF
    )
    assert answer.status_code == 200, answer.text
    return answer


async def refused(client: httpx.AsyncClient, me: Account, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    return (await client.get(f"/api/v1/users/{me.user_id}", headers=headers)).status_code == 401


async def test_signing_in_sets_a_cookie_the_page_cannot_read(
    api: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    me = await sign_up(api)
    answer = await open_session(browser_like, me)
    body = answer.json()
    assert set(body) == {"token", "token_type", "expires_in", "user_id", "session_id"}
    assert body["user_id"] == me.user_id
    morsel = set_cookie(answer)[COOKIE]
    assert len(morsel.value) >= 40
    assert morsel.value not in answer.text  # the refresh token is not in the body
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/api/v1/web"
    assert morsel["max-age"] == str(30 * 86400)
    assert not morsel["secure"]  # ENVIRONMENT=development: plain http on localhost
    profile = await browser_like.get(
        f"/api/v1/users/{me.user_id}", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert profile.status_code == 200
    # The cookie is the session's: the session list knows it by the client's agent.
    sessions = await browser_like.get(
        f"/api/v1/users/{me.user_id}/sessions",
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    (current,) = [s for s in sessions.json()["sessions"] if s["current"]]
    assert current["session_id"] == body["session_id"]


async def test_a_wrong_password_sets_no_cookie(
    api: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    me = await sign_up(api)
    wrong = await browser_like.post(
        "/api/v1/web/session", json={"email": me.email, "password": "not it at all"}, headers=CSRF
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in wrong.headers
    missing = await browser_like.post("/api/v1/web/session", json={"email": me.email}, headers=CSRF)
    assert missing.status_code == 400
    assert [e["field"] for e in missing.json()["errors"]] == ["password"]


async def test_what_another_site_could_send_is_refused(
    api: httpx.AsyncClient, browser_like: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    me = await sign_up(api)
    login = {"email": me.email, "password": PASSWORD}
    # Without the header (a cross-site form cannot send one): nothing happens.
    plain = await browser_like.post("/api/v1/web/session", json=login)
    assert plain.status_code == 403
    assert plain.json()["detail"] == "the X-Fitmesh-CSRF: 1 header is required"
    assert "set-cookie" not in plain.headers
    token = (await open_session(browser_like, me)).json()["token"]
    assert browser_like.cookies.get(COOKIE)
    for method in ("POST", "DELETE"):
        path = "/api/v1/web/session/refresh" if method == "POST" else "/api/v1/web/session"
        assert (await browser_like.request(method, path)).status_code == 403
        wrong = await browser_like.request(method, path, headers={"X-Fitmesh-CSRF": "yes"})
        assert wrong.status_code == 403
        foreign = {**CSRF, "Origin": "https://evil.example"}
        assert (await browser_like.request(method, path, headers=foreign)).status_code == 403
    # None of those signed the session out; from the page's own origin it refreshes.
    assert not await refused(browser_like, me, token)
    own = {**CSRF, "Origin": gateway.url}
    assert (await browser_like.post("/api/v1/web/session/refresh", headers=own)).status_code == 200


async def test_a_refresh_rotates_the_cookie_and_a_spent_one_ends_the_session(
    api: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    me = await sign_up(api)
    first = await open_session(browser_like, me)
    spent = browser_like.cookies[COOKIE]
    renewed = await browser_like.post("/api/v1/web/session/refresh", headers=CSRF)
    assert renewed.status_code == 200, renewed.text
    rotated = set_cookie(renewed)[COOKIE]
    assert rotated.value != spent
    assert (rotated["httponly"], rotated["samesite"], rotated["path"]) == (
        True,
        "strict",
        "/api/v1/web",
    )
    assert renewed.json()["session_id"] == first.json()["session_id"]
    assert renewed.json()["token"] != first.json()["token"]
    again = await browser_like.post("/api/v1/web/session/refresh", headers=CSRF)
    assert again.status_code == 200  # the jar holds the rotated one

    # Someone who kept the spent cookie: reuse, so the whole session ends and the cookie
    # goes with it.
    async with httpx.AsyncClient(base_url=browser_like.base_url) as thief:
        thief.cookies.set(COOKIE, spent, path="/api/v1/web")
        reuse = await thief.post("/api/v1/web/session/refresh", headers=CSRF)
    assert reuse.status_code == 401
    assert set_cookie(reuse)[COOKIE]["max-age"] == "0"
    token = again.json()["token"]
    await wait_for(lambda: refused(browser_like, me, token), timeout=5)
    after = await browser_like.post("/api/v1/web/session/refresh", headers=CSRF)
    assert after.status_code == 401
    assert not browser_like.cookies.get(COOKIE)  # cleared by that answer
    none = await browser_like.post("/api/v1/web/session/refresh", headers=CSRF)
    assert none.status_code == 401
    assert none.json()["detail"] == "no web session; sign in"


async def test_signing_out_ends_the_session_and_clears_the_cookie(
    api: httpx.AsyncClient, browser_like: httpx.AsyncClient
) -> None:
    me = await sign_up(api)
    token = (await open_session(browser_like, me)).json()["token"]
    kept = browser_like.cookies[COOKIE]
    out = await browser_like.delete("/api/v1/web/session", headers=CSRF)
    assert out.status_code == 204
    cleared = set_cookie(out)[COOKIE]
    assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/api/v1/web")
    assert not browser_like.cookies.get(COOKIE)
    await wait_for(lambda: refused(browser_like, me, token), timeout=5)
    # The cookie it had is no good any more, and a second sign-out is harmless.
    browser_like.cookies.set(COOKIE, kept, path="/api/v1/web")
    assert (await browser_like.post("/api/v1/web/session/refresh", headers=CSRF)).status_code == 401
    assert (await browser_like.delete("/api/v1/web/session", headers=CSRF)).status_code == 204


async def test_the_cookie_is_secure_outside_development(
    api: httpx.AsyncClient, gateway_env: dict[str, str]
) -> None:
    env = {
        **gateway_env,
        "ENVIRONMENT": "production",
        "JWT_PUBLIC_KEY": keys.verifying_key("", keys.DEVELOPMENT).decode(),
        "SERVICE_SIGNING_KEY": keys.service_signing_key("", keys.DEVELOPMENT).decode(),
    }
    production = await services.start_http("gateway", env)
    try:
        me = await sign_up(api)
        async with httpx.AsyncClient(base_url=production.url, timeout=15) as client:
            answer = await open_session(client, me)
            out = await client.delete("/api/v1/web/session", headers=CSRF)
        assert set_cookie(answer)[COOKIE]["secure"] is True
        assert set_cookie(out)[COOKIE]["secure"] is True
    finally:
        production.stop()
