"""The web page's Account area in Chromium: the profile (a refused value beside its field,
then saved, and the header follows), where the account is signed in and signing the other
devices out, a password change refused and then made, the data export saved from a Blob,
an expired access token renewed through the cookie, a session ended elsewhere, signing out
(a reload stays signed out), and deleting the account after a confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from devstack import services
from tests.helpers import PASSWORD, sign_up, wait_for
from tests.webpage import assert_accessible, browser, log_in, watch

__all__ = ["browser"]  # a fixture
NEW_PASSWORD = "a much longer one now"


async def test_profile_sessions_password_and_export(
    browser: Browser,
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    tmp_path: Path,
) -> None:
    me = await sign_up(api)
    phone = await api.post(
        "/users/login",
        json={"email": me.email, "password": PASSWORD},
        headers={"User-Agent": "fitmesh-phone/2.1"},
    )
    phone_token = {"Authorization": f"Bearer {phone.json()['token']}"}
    username = (await api.get(f"/users/{me.user_id}", headers=me.headers)).json()["username"]
    watched = await watch(browser)
    page = watched.page
    await log_in(page, gateway.url, me.email, "account")
    await expect(page.locator("#whoami")).to_have_text(username)
    await assert_accessible(page, "account")

    await page.fill("#profile-name", "Grace")
    await page.fill("#profile-weight", "500")
    await page.click("#profile-submit")
    await expect(page.locator("#profile-weight-error")).to_contain_text("less than or equal to 400")
    await expect(page.locator("#profile-weight")).to_have_attribute("aria-invalid", "true")
    await page.fill("#profile-weight", "61.5")
    await page.click("#profile-submit")
    await expect(page.locator("#profile-status")).to_have_text("Profile saved.")
    await expect(page.locator("#whoami")).to_have_text("Grace")
    profile = (await api.get(f"/users/{me.user_id}", headers=me.headers)).json()
    assert (profile["display_name"], profile["weight_kg"]) == ("Grace", 61.5)

    # Three sessions: the sign-up's, the phone's and this browser's.
    devices = page.locator("#devices li")
    await expect(devices).to_have_count(3)
    await expect(page.locator('#devices li[data-current="true"]')).to_contain_text("This browser")
    await expect(devices.filter(has_text="fitmesh-phone/2.1")).to_have_count(1)
    await page.click("#sign-out-others")
    await expect(page.locator("#devices-status")).to_have_text("Signed out 2 other sessions.")
    await expect(devices).to_have_count(1)

    async def phone_refused() -> bool:
        answer = await api.get(f"/users/{me.user_id}", headers=phone_token)
        return answer.status_code == 401

    await wait_for(phone_refused, timeout=5)

    await page.fill("#current-password", "not my password")
    await page.fill("#new-password", NEW_PASSWORD)
    await page.click("#password-submit")
    await expect(page.locator("#current-password-error")).to_have_text(
        "This is not your current password."
    )
    await page.fill("#current-password", PASSWORD)
    await page.click("#password-submit")
    await expect(page.locator("#password-status")).to_have_text(
        "Password changed; 0 other sessions signed out."
    )
    await expect(page.locator("#current-password-error")).to_be_empty()

    async with page.expect_download() as downloading:
        await page.click("#export")
    download = await downloading.value
    assert download.suggested_filename.startswith("fitmesh-export-")
    assert download.suggested_filename.endswith(".jsonl")
    saved = (await download.path()).read_text()
    lines = [json.loads(line) for line in saved.splitlines()]
    assert lines[0]["kind"] == "export"
    assert lines[-1] == {"kind": "end", "data": {"records": len(lines) - 2}}
    (exported,) = [line["data"] for line in lines if line["kind"] == "profile"]
    assert exported["display_name"] == "Grace"
    await expect(page.locator("#export-status")).to_have_text(
        f"Downloaded {download.suggested_filename}: {len(lines) - 2} records."
    )
    await page.screenshot(path=str(tmp_path / "account.png"), full_page=True)  # to look at
    watched.assert_stayed_home(gateway.url)


async def test_sign_out_and_delete_the_account(
    browser: Browser, api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    me = await sign_up(api)
    watched = await watch(browser)
    page = watched.page
    await log_in(page, gateway.url, me.email, "account")

    # An access token refused (as an expired one is) is renewed through the cookie, and the
    # requests go through.
    await page.evaluate("state.token = 'no longer good'")
    await page.click('#nav a[data-area="workouts"]')  # not loaded before
    await expect(page.locator("#history")).to_have_attribute("data-state", "empty")
    await expect(page.locator("#history .empty")).to_be_visible()
    assert await page.evaluate("state.token") != "no longer good"

    # Signed out from elsewhere: the cookie renews nothing, and the page says so.
    listed = await api.get(f"/users/{me.user_id}/sessions", headers=me.headers)
    (here,) = [s for s in listed.json()["sessions"] if "Chrome" in s["user_agent"]]
    revoked = await api.delete(
        f"/users/{me.user_id}/sessions/{here['session_id']}", headers=me.headers
    )
    assert revoked.status_code == 204
    await page.click('#nav a[data-area="dashboard"]')
    await expect(page.locator("#auth-error")).to_have_text(
        "Your session has ended; please log in again."
    )
    await expect(page.locator("#nav")).to_be_hidden()

    await log_in(page, gateway.url, me.email, "account")
    await page.click("#sign-out")
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#auth-error")).to_have_text("You are signed out.")
    await expect(page.locator("#nav")).to_be_hidden()
    await assert_accessible(page, "log in")
    await page.reload()  # the cookie went with the session
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#dashboard")).to_be_hidden()

    await log_in(page, gateway.url, me.email, "account")
    await page.click("#delete-start")
    await expect(page.locator("#delete-password-error")).to_have_text(
        "Enter your password to delete the account."
    )
    await expect(page.locator("#delete-confirm-box")).to_be_hidden()
    await page.fill("#delete-password", "not my password")
    await page.click("#delete-start")
    await expect(page.locator("#delete-confirm")).to_be_focused()
    await assert_accessible(page, "account deletion, confirming")
    await page.click("#delete-confirm")
    await expect(page.locator("#delete-password-error")).to_have_text("This is not your password.")
    await expect(page.locator("#delete-confirm-box")).to_be_hidden()

    await page.fill("#delete-password", PASSWORD)
    await page.click("#delete-start")
    await page.click("#delete-cancel")  # second thoughts: nothing happens
    await expect(page.locator("#delete-confirm-box")).to_be_hidden()
    assert (await api.get(f"/users/{me.user_id}", headers=me.headers)).status_code == 200
    await page.fill("#delete-password", PASSWORD)
    await page.click("#delete-start")
    await page.click("#delete-confirm")
    # An erasure walks every store of the user: on a busy test machine, seconds.
    await expect(page.locator("#auth-error")).to_have_text(
        "Your account and everything in it have been deleted.", timeout=30_000
    )
    login = await api.post("/users/login", json={"email": me.email, "password": PASSWORD})
    assert login.status_code == 401
    watched.assert_stayed_home(gateway.url)
