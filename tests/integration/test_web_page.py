"""The web page in a real browser (Debian's Chromium, driven by Playwright): two people log
in, one starts a group session, the other joins, and they chat; a new user's Health area
(empty states, a metric and a meal logged through its forms, a field error beside its
field, the steps chart, insights with their figures). The page asks no other origin and
breaks no rule of its Content-Security-Policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from devstack import services
from tests.helpers import Account, sign_up
from tests.webpage import assert_accessible, browser, log_in, watch

__all__ = ["browser"]  # a fixture


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
    await log_in(first, gateway.url, ada.email, "groups")
    await log_in(second, second_gateway.url, bob.email, "groups")  # the other replica

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


def days_ago(days: int) -> str:
    """Noon UTC that many days ago: inside every range the page asks for."""
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon - dt.timedelta(days=days)).isoformat()


async def test_the_page_is_served_with_a_strict_policy(gateway: services.HttpProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        page = await client.get("/")
        assets = [
            await client.get(path)
            for path in (
                "/static/app.js",
                "/static/health.js",
                "/static/app.css",
                "/static/vendor/uplot/uPlot.iife.min.js",
                "/static/vendor/uplot/uPlot.min.css",
                *(f"/static/{name}.js" for name in ("forms", "charts", "dashboard")),
                *(f"/static/{name}.js" for name in ("workouts", "groups", "account")),
                *(f"/static/{name}.js" for name in ("edits", "imports", "webhooks")),
            )
        ]
        missing = await client.get("/static/nothing.js")
        outside = await client.get("/static/..%2Froutes%2Fpages.py")
    assert page.status_code == 200
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    # Only the gateway's own files: no inline script or style, no eval, no other origin.
    for name in ("default-src", "script-src", "style-src", "connect-src"):
        assert policy[name] == "'self'", (name, policy[name])
    assert [a.status_code for a in assets] == [200] * len(assets)
    assert assets[0].headers["content-type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    assert assets[2].headers["content-type"].startswith("text/css")
    assert (missing.status_code, outside.status_code) == (404, 404)


async def test_a_new_user_logs_steps_and_a_meal_on_a_phone(
    browser: Browser,
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    tmp_path: Path,
) -> None:
    me = await sign_up(api)
    watched = await watch(browser, width=375)
    page = watched.page
    await log_in(page, gateway.url, me.email, "health")

    # Empty states: nothing logged, nothing to draw. (The insights already speak: this
    # week's intensity minutes are behind.)
    await expect(page.locator("#metric-chart-empty")).to_have_text(
        "No steps logged in the last 30 days."
    )
    await expect(page.locator("#activity-chart-empty")).to_have_text(
        "No workouts in the last 30 days."
    )
    await expect(page.locator('#insights-list li[data-kind="activity_shortfall"]')).to_be_visible()
    await expect(page.locator("#metric-chart canvas")).to_have_count(0)

    # A value the health service refuses: its message sits beside the value field.
    await page.select_option("#metric-type", "steps")
    await page.fill("#metric-value", "-5")
    await page.click("#metric-submit")
    beside_value = page.locator("#metric-value + .field-error")
    await expect(beside_value).to_contain_text("between 0 and 100000")
    await expect(page.locator("#metric-value")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#metric-value")).to_be_focused()

    # Fixed, and logged with the time left at now.
    await page.fill("#metric-value", "4200")
    await page.click("#metric-submit")
    await expect(page.locator("#metric-status")).to_have_text("Logged 4,200 steps.")
    # The insights were asked again, of the service this time.
    await expect(page.locator("#insights-list li").first).to_be_visible()
    await expect(beside_value).to_be_empty()
    await expect(page.locator("#metric-value")).not_to_have_attribute("aria-invalid", "true")
    chart = page.locator("#metric-chart")
    await expect(chart.locator(".chart-plot canvas").first).to_be_visible()
    await expect(page.locator("#metric-chart-summary")).to_contain_text("30-day total 4,200 steps")
    await expect(page.locator("#metric-chart-plot")).to_have_attribute(
        "aria-label", "Chart: Steps, total per day, last 30 days"
    )
    await page.select_option("#trend-range", "7")
    await expect(page.locator("#metric-chart-summary")).to_contain_text("7-day total 4,200 steps")

    # A meal through its form.
    await page.fill("#meal-name", "lunch")
    await page.fill("#meal-calories", "640")
    await page.fill("#meal-protein", "38")
    await page.fill("#meal-carbohydrate", "70")
    await page.fill("#meal-fat", "21")
    await page.click("#meal-submit")
    await expect(page.locator("#meal-status")).to_have_text("Logged lunch, 640 kcal.")

    steps = await api.get(
        f"/health-metrics/user/{me.user_id}", headers=me.headers, params={"metric_type": "steps"}
    )
    assert [m["value"] for m in steps.json()["items"]] == [4200]
    meals = (await api.get(f"/nutrition-logs/user/{me.user_id}", headers=me.headers)).json()
    (meal,) = meals["items"]
    assert (meal["name"], meal["calories"], meal["protein_g"], meal["fat_g"]) == (
        "lunch",
        640,
        38,
        21,
    )

    # Sleep asks when it began and ended; minutes asleep start as the time in bed.
    await page.select_option("#metric-type", "sleep_minutes")
    await expect(page.locator("#metric-start")).to_be_visible()
    await expect(page.locator("#metric-end")).to_be_visible()
    await expect(page.locator("#metric-at")).to_be_hidden()
    await expect(page.locator("#metric-value")).to_have_value("480")
    await expect(page.get_by_label("Minutes asleep")).to_be_visible()

    # A phone's width: nothing wider than the screen; the chart is reachable by keyboard.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.focus("#trend-period")
    await page.keyboard.press("Tab")
    await expect(page.locator("#metric-chart-plot")).to_be_focused()
    await page.screenshot(path=str(tmp_path / "health.png"), full_page=True)
    await assert_accessible(page, "health on a phone")
    watched.assert_stayed_home(gateway.url)


async def test_nothing_to_suggest_is_said(
    browser: Browser, api: httpx.AsyncClient, gateway: services.HttpProcess
) -> None:
    """A person on pace for this week's 150 intensity minutes, with no health data yet: no
    rule has anything to say, and the page says so."""
    me = await sign_up(api)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    # Up to 75 vigorous minutes this week: 150 intensity minutes, well ahead of the pace
    # (except in the first 11 minutes of a week, when no workout of this week can be).
    start = max(monday, now - dt.timedelta(minutes=76))
    run = {
        "workout_type": "hiit",
        "start_time": start.isoformat(),
        "end_time": (now - dt.timedelta(minutes=1)).isoformat(),
    }
    logged = await api.post("/workouts", headers=me.headers, json=run)
    assert logged.status_code == 201, logged.text
    watched = await watch(browser)
    await log_in(watched.page, gateway.url, me.email, "health")
    await expect(watched.page.locator("#insights-empty")).to_be_visible()
    await expect(watched.page.locator("#insights-list li")).to_have_count(0)
    watched.assert_stayed_home(gateway.url)


async def test_insights_show_the_figures_behind_them(
    browser: Browser, api: httpx.AsyncClient, gateway: services.HttpProcess, tmp_path: Path
) -> None:
    me: Account = await sign_up(api, birth_date="1990-05-01", sex="female", weight_kg=64)
    few_steps = [
        {"metric_type": "steps", "value": 2500, "recorded_at": days_ago(d)} for d in (1, 2, 3)
    ]
    stored = await api.post("/health-metrics/", headers=me.headers, json=few_steps)
    assert stored.status_code == 201, stored.text
    run = {
        "workout_type": "running",
        "start_time": days_ago(2),
        "end_time": days_ago(2).replace("T12:00:00", "T12:30:00"),
        "distance_m": 5000,
    }
    logged = await api.post("/workouts", headers=me.headers, json=run)
    assert logged.status_code == 201, logged.text

    watched = await watch(browser)
    page = watched.page
    await log_in(page, gateway.url, me.email, "health")
    low_steps = page.locator('#insights-list li[data-kind="low_steps"]')
    await expect(low_steps).to_be_visible()
    await expect(low_steps.locator(".severity")).to_have_text("alert")
    await expect(low_steps.locator(".evidence")).to_contain_text("mean daily steps: 2,500 steps")
    await expect(low_steps.locator(".evidence")).to_contain_text("step days: 3 days")
    await expect(low_steps.locator(".source")).to_contain_text("Paluch")
    await expect(page.locator("#insights-empty")).to_be_hidden()
    await expect(page.locator("#metric-chart-summary")).to_contain_text(
        "30-day total 7,500 steps, 2,500 a day on the 3 days with data."
    )
    await expect(page.locator("#activity-chart canvas").first).to_be_visible()
    await expect(page.locator("#activity-chart-summary")).to_contain_text(
        "30-day total 30 active minutes, from 1 workout."
    )
    await page.select_option("#trend-activity", "distance_m")
    await expect(page.locator("#activity-chart-summary")).to_contain_text("30-day total 5 km")

    # A mean-type metric logged through the form: the chart switches to it.
    await page.select_option("#metric-type", "weight_kg")
    await page.fill("#metric-value", "64.5")
    await page.click("#metric-submit")
    await expect(page.locator("#metric-status")).to_have_text("Logged weight: 64.5 kg.")
    await expect(page.locator("#trend-metric")).to_have_value("weight_kg")
    await expect(page.locator("#metric-chart-summary")).to_contain_text(
        "30-day mean 64.5 kg, over 1 sample."
    )
    await page.screenshot(path=str(tmp_path / "insights.png"), full_page=True)
    await assert_accessible(page, "health with insights")
    watched.assert_stayed_home(gateway.url)
