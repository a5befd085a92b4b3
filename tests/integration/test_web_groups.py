"""Group sessions in Chromium, on the two gateway replicas: one person starts a session and
shares its invite link; another opens the link (signed out, so through the login form) and
is in the session; they chat; the owner ends it, and both read its transcript. The session
stays in each one's "your sessions", which come from the server: a browser that never saw it
lists it too; to a stranger, the link of the ended session is 404."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from devstack import services
from tests.helpers import PASSWORD, sign_up
from tests.webpage import PHONE, assert_accessible, browser, log_in, watch

__all__ = ["browser"]  # a fixture


async def open_link(page: Page, link: str, email: str) -> None:
    """An invite link opened by someone signed out: the login form, then the session."""
    await page.goto(link)
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")


async def test_an_invite_link_opens_the_session_and_the_transcript_stays(
    browser: Browser,
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    second_gateway: services.HttpProcess,
    tmp_path: Path,
) -> None:
    ada, bob, eve = await sign_up(api), await sign_up(api), await sign_up(api)
    host = await watch(browser)
    first = host.page
    await log_in(first, gateway.url, ada.email, "groups")
    await expect(first.locator("#mine .empty")).to_be_visible()
    await assert_accessible(first, "group sessions, none yet")

    await first.fill("#session-name", "Lunch intervals")
    await first.select_option("#session-type", "hiit")
    await first.click("#create")
    await expect(first.locator("#room")).to_be_visible()
    await expect(first.locator("#room-title")).to_have_text("Lunch intervals")
    await expect(first.locator("#messages")).to_contain_text("No messages yet: say hello.")
    session_id = await first.locator("#session-id").inner_text()
    link = await first.input_value("#invite-link")
    assert link == f"{gateway.url}/#/group/{session_id}"

    # The link, on the other replica, by someone signed out; on a phone.
    guest = await watch(browser, width=PHONE)
    second = guest.page
    await open_link(second, link.replace(gateway.url, second_gateway.url), bob.email)
    # Signing in, a socket on the other replica, then the join: on a busy machine, more than
    # the default 5 s.
    await expect(second.locator("#room")).to_be_visible(timeout=15_000)
    await expect(second.locator("#room-title")).to_have_text("Lunch intervals")
    await expect(second.locator("#end")).to_be_hidden()  # only the owner ends it
    await expect(first.locator(f'#members li[data-user-id="{bob.user_id}"]')).to_be_visible()
    await assert_accessible(second, "a live session")

    await first.fill("#message", "ten rounds, go")
    await first.press("#message", "Enter")
    await second.fill("#message", "on it")
    await second.press("#message", "Enter")
    for page in (first, second):
        await expect(page.locator("#messages")).to_contain_text("ten rounds, go")
        await expect(page.locator("#messages")).to_contain_text("on it")

    await first.click("#end")
    for page in (first, second):
        await expect(page.locator("#messages")).to_contain_text("The session has ended.")
    await second.click("text=Read the transcript")
    await expect(second.locator("#transcript")).to_be_visible()
    await expect(second.locator("#transcript-title")).to_have_text("Lunch intervals: transcript")
    await expect(second.locator("#transcript-meta")).to_contain_text("2 participants · 2 messages")
    lines = second.locator("#transcript-messages li")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("ten rounds, go")
    await expect(lines.nth(1)).to_contain_text("(you): on it")
    await assert_accessible(second, "a transcript")
    await second.screenshot(path=str(tmp_path / "transcript.png"), full_page=True)  # to look at

    # Listed for each, as ended; the owner's list opens the transcript too.
    await first.click('#nav a[data-area="groups"]')
    mine = first.locator(f'#mine li[data-id="{session_id}"]')
    await expect(mine).to_contain_text("Lunch intervals · HIIT · ended")
    await expect(mine).to_contain_text("2 messages")
    await mine.locator("a").click()
    await expect(first.locator("#transcript-messages li")).to_have_count(2)

    # Another device (a fresh browser, its storage empty) lists it after signing in, with
    # a live session of the owner's above it.
    live = await api.post(
        "/group-sessions", headers=ada.headers, json={"name": "Cool-down", "workout_type": "yoga"}
    )
    assert live.status_code == 201, live.text
    device = await watch(browser)
    await log_in(device.page, second_gateway.url, ada.email, "groups")
    listed = device.page.locator("#mine li")
    await expect(listed).to_have_count(2)
    await expect(listed.nth(0)).to_contain_text("Cool-down · Yoga · live since")
    await expect(listed.nth(1)).to_contain_text("Lunch intervals · HIIT · ended")
    assert await device.page.evaluate("localStorage.length") == 0
    await device.page.screenshot(path=str(tmp_path / "your-sessions.png"))  # to look at
    await listed.nth(1).locator("a").click()
    await expect(device.page.locator("#transcript-messages li")).to_have_count(2)
    device.assert_stayed_home(second_gateway.url)

    # Someone who was not there: the ended session is not theirs to read.
    stranger = await watch(browser)
    await open_link(stranger.page, link, eve.email)
    await expect(stranger.page.locator("#lobby-error")).to_contain_text("No such session")
    await expect(stranger.page.locator("#transcript")).to_be_hidden()
    for watched, url in ((host, gateway.url), (guest, second_gateway.url)):
        watched.assert_stayed_home(url)
