"""The web page in a real browser (Debian's Chromium, driven by Playwright): two people log
in, one starts a group session, the other joins, and they chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from devstack import services
from devstack.servers import find_binary
from tests.helpers import PASSWORD, sign_up

# Chromium's own background traffic has nowhere to go on a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=find_binary("chromium", "/usr/bin/chromium"),
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        yield chromium
        await chromium.close()


async def log_in(page: Page, url: str, email: str) -> None:
    await page.goto(url)
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await expect(page.locator("#lobby")).to_be_visible()


async def test_two_browsers_chat_in_one_session(
    browser: Browser,
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    second_gateway: services.HttpProcess,
    tmp_path: Path,
) -> None:
    ada, bob = await sign_up(api), await sign_up(api)
    first = await (await browser.new_context()).new_page()
    second = await (await browser.new_context()).new_page()
    await log_in(first, gateway.url, ada.email)
    await log_in(second, second_gateway.url, bob.email)  # the other replica

    await first.fill("#session-name", "Browser run")
    await first.click("#create")
    await expect(first.locator("#room")).to_be_visible()
    session_id = await first.locator("#session-id").inner_text()
    assert len(session_id) == 32

    await second.fill("#join-id", session_id)
    await second.click("#join")
    await expect(second.locator("#room")).to_be_visible()
    await expect(first.locator(f'#members li[data-user-id="{bob.user_id}"]')).to_be_visible()

    await first.fill("#message", "hello from ada")
    await first.click("#send")
    await second.fill("#message", "hi ada, bob here")
    await second.click("#send")
    for page in (first, second):
        await expect(page.locator("#messages")).to_contain_text("hello from ada")
        await expect(page.locator("#messages")).to_contain_text("hi ada, bob here")

    await second.fill("#exercise", "squats")
    await second.fill("#reps", "12")
    await second.click("#update")
    await expect(first.locator("#messages")).to_contain_text("did 12 squats")
    await first.screenshot(path=str(tmp_path / "chat.png"))  # kept for a person to look at
