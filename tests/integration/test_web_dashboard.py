"""The web page's dashboard in Chromium: a new person's empty week, a goal set through its
form, and the "goal achieved" toast arriving while the dashboard is open when a workout
(logged through the API) completes it; then the week's score, chart, workouts, alerts and
statistics, a reload that keeps the session (the cookie), and screenshots at desktop and
phone width for the README. Each screen passes axe-core; nothing leaves the gateway."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from devstack import services
from tests.helpers import Account, sign_up
from tests.webpage import (
    DESKTOP,
    PHONE,
    assert_accessible,
    browser,
    fits,
    log_in,
    screenshots,
    watch,
)

__all__ = ["browser"]  # a fixture


async def log_run(api: httpx.AsyncClient, me: Account) -> dict[str, Any]:
    """Up to 30 minutes of running that ended a minute ago, inside this ISO week."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    run = {
        "workout_type": "running",
        "start_time": max(monday, now - dt.timedelta(minutes=31)).isoformat(),
        "end_time": (now - dt.timedelta(minutes=1)).isoformat(),
    }
    logged = await api.post("/workouts", headers=me.headers, json=run)
    assert logged.status_code == 201, logged.text
    workout: dict[str, Any] = logged.json()
    return workout


async def test_a_goal_alert_arrives_while_the_dashboard_is_open(
    browser: Browser, api: httpx.AsyncClient, gateway: services.HttpProcess, tmp_path: Path
) -> None:
    me = await sign_up(api, display_name="Ada Lovelace")
    watched = await watch(browser)
    page = watched.page
    await log_in(page, gateway.url, me.email)

    # The person's name in the header, and an empty week, said as such.
    await expect(page.locator("#whoami")).to_have_text("Ada Lovelace")
    await expect(page.locator('#nav a[aria-current="page"]')).to_have_text("Dashboard")
    for box in ("recent", "goals", "alerts", "stats"):
        await expect(page.locator(f"#{box} .empty")).to_be_visible()
        await expect(page.locator(f"#{box} .loading")).to_be_hidden()
    await expect(page.locator("#week-chart-empty")).to_have_text("No workouts in the last 7 days.")
    await expect(page.locator("#score-value")).to_have_text("0%")
    await expect(page.locator("#score-150-label")).to_have_text("0 of 150 intensity minutes")
    await assert_accessible(page, "empty dashboard")

    # A goal through the form; a refusal first, beside its field.
    await page.select_option("#goal-type", "workouts_count")
    await page.fill("#goal-target", "-1")
    await page.click("#goal-submit")
    await expect(page.locator("#goal-target-error")).not_to_be_empty()
    await expect(page.locator("#goal-target")).to_have_attribute("aria-invalid", "true")
    await page.fill("#goal-target", "1")
    await page.click("#goal-submit")
    await expect(page.locator("#goal-status")).to_contain_text("Goal set: Workouts, 1 by")
    goal = page.locator('#goals li[data-goal-type="workouts_count"]')
    await expect(goal).to_contain_text("Workouts: 0 of 1")
    await expect(goal).to_have_attribute("data-status", "active")

    # A workout logged elsewhere completes it: the toast arrives on the open page.
    workout = await log_run(api, me)
    toast = page.locator("#toasts .toast")
    await expect(toast.locator("p")).to_have_text("Goal achieved: Workouts 1!", timeout=20000)
    await expect(page.locator("#alerts li")).to_contain_text("Workouts 1 achieved")
    await expect(goal).to_have_attribute("data-status", "achieved")

    # A reload signs back in through the cookie (the access token was only in memory) and
    # shows the week as it now is.
    await page.reload()
    await expect(page.locator("#dashboard")).to_be_visible()
    await expect(page.locator("#auth")).to_be_hidden()
    minutes = workout["intensity_minutes"]
    score = min(100.0, 100 * minutes / 150)
    await expect(page.locator("#score-value")).to_have_text(f"{score:g}%")
    await expect(page.locator("#score-150-label")).to_have_text(
        f"{minutes:g} of 150 intensity minutes"
    )
    assert await page.locator("#score-150").evaluate("(bar) => bar.value") == minutes
    await expect(page.locator("#recent li")).to_have_count(1)
    await expect(page.locator("#recent li")).to_contain_text("Running")
    await expect(page.locator("#stats tbody tr")).to_have_count(1)
    await expect(page.locator("#stats tbody tr th")).to_have_text("Running")
    await expect(page.locator("#week-chart canvas").first).to_be_visible()
    await expect(page.locator("#week-chart-summary")).to_contain_text(
        f"{minutes:g} intensity minutes in 7 days"
    )
    await expect(page.locator("#alerts li")).to_have_count(1)
    await assert_accessible(page, "dashboard")

    shots = screenshots(tmp_path)
    await page.screenshot(path=str(shots / "dashboard-desktop.png"), full_page=True)
    await page.set_viewport_size({"width": PHONE, "height": 800})
    await expect(page.locator("#week-chart canvas").first).to_be_visible()
    await fits(page, PHONE)
    await assert_accessible(page, "dashboard on a phone")
    await page.screenshot(path=str(shots / "dashboard-phone.png"), full_page=True)
    await page.set_viewport_size({"width": DESKTOP, "height": 900})

    # By keyboard: a link of the menu opens its area, and the focus moves to its heading.
    await page.focus('#nav a[data-area="workouts"]')
    await page.keyboard.press("Enter")
    await expect(page.locator("#workouts")).to_be_visible()
    await expect(page.locator("#workouts-title")).to_be_focused()
    await expect(page.locator("#dashboard")).to_be_hidden()

    policy = (await page.request.get(gateway.url)).headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    watched.assert_stayed_home(gateway.url)
