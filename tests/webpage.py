"""What the web page's browser tests share: Debian's Chromium driven by Playwright, a page
that writes down every request, WebSocket and CSP complaint it made, logging in, and an
accessibility check by axe-core (tests/vendor/axe-core) run in the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest_asyncio
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from devstack.servers import find_binary
from tests.helpers import PASSWORD

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
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE, DESKTOP = 375, 1280


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


@dataclass
class Watched:
    """A page with every request, WebSocket and CSP complaint it made written down."""

    page: Page
    urls: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def assert_stayed_home(self, url: str) -> None:
        """Every request went to the gateway that served the page (or stayed in the page:
        a download's blob:), and none was refused by the policy."""
        home = urlsplit(url).netloc
        assert self.urls, "no request was recorded"
        fetched = [u for u in self.urls if not u.startswith("blob:")]
        strays = [u for u in fetched if urlsplit(u).netloc != home]
        assert not strays, f"requests to another origin: {strays}"
        assert {urlsplit(u).scheme for u in fetched} <= {"http", "ws"}
        assert not self.csp_violations, self.csp_violations


async def watch(browser: Browser, width: int = DESKTOP, **options: Any) -> Watched:
    context = await browser.new_context(viewport={"width": width, "height": 900}, **options)
    # axe is added by the browser (not as a script element), so the page's CSP is not
    # loosened for it and the page itself never loads it.
    await context.add_init_script(path=str(AXE))
    watched = Watched(await context.new_page())
    watched.page.on("request", lambda request: watched.urls.append(request.url))
    watched.page.on("websocket", lambda socket: watched.urls.append(socket.url))
    watched.page.on("console", watched.on_console)
    return watched


async def log_in(page: Page, url: str, email: str, area: str | None = None) -> None:
    """Log in through the form, and open an area (#/<area>) if one is named."""
    await page.goto(url)
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await expect(page.locator("#dashboard")).to_be_visible()
    if area is not None:
        await page.click(f'#nav a[data-area="{area}"]')
        await expect(page.locator(f"#{area}")).to_be_visible()


async def assert_accessible(page: Page, screen: str) -> None:
    """No serious or critical violation that axe-core finds on what is shown now."""
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map((n) => n.target.join(" ")) }))"""
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{screen}: {bad}"


async def fits(page: Page, width: int) -> None:
    """Nothing wider than the screen: no sideways scrolling."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= width


def screenshots(own: Path) -> Path:
    """Where a test's screenshots go: the README's (docs/screenshots) when
    FITMESH_SCREENSHOTS=1, to refresh them; else the test's own directory, so a test run
    leaves the checkout as it was."""
    import os

    where = DOCS_SCREENSHOTS if os.environ.get("FITMESH_SCREENSHOTS") == "1" else own
    where.mkdir(parents=True, exist_ok=True)
    return where
