"""The web page's Workouts area in Chromium: a refused log with its error beside the field,
a finished workout logged, a live one started (its timer runs, and survives a reload) and
ended, a TCX file imported through the file input and a broken GPX dropped on the form,
each followed to its end; the history lists what the API holds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from devstack import services
from tests.helpers import sign_up
from tests.webpage import PHONE, assert_accessible, browser, fits, log_in, watch

__all__ = ["browser"]  # a fixture
DATA = Path(__file__).resolve().parent.parent / "data"


async def test_log_start_end_and_import_workouts(
    browser: Browser,
    api: httpx.AsyncClient,
    gateway: services.HttpProcess,
    tmp_path: Path,
) -> None:
    me = await sign_up(api)
    watched = await watch(browser, width=PHONE)
    page = watched.page
    await log_in(page, gateway.url, me.email, "workouts")
    await expect(page.locator("#history .empty")).to_be_visible()
    await expect(page.locator("#history .loading")).to_be_hidden()
    await expect(page.locator("#imports-empty")).to_be_visible()
    await assert_accessible(page, "workouts, empty")

    # Ended before it started: the service's word, beside the end time.
    start = dt.datetime.fromisoformat(await page.input_value("#log-start"))
    await page.fill("#log-end", (start - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#log-submit")
    await expect(page.locator("#log-end-error")).to_have_text("must be after start_time")
    await expect(page.locator("#log-end")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#log-end")).to_be_focused()

    # The last 30 minutes (the times the form starts with), 5 km.
    await page.fill("#log-end", (start + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
    await page.select_option("#log-type", "running")
    await page.fill("#log-distance", "5")
    await page.click("#log-submit")
    await expect(page.locator("#log-status")).to_contain_text("Logged running, 30 min:")
    await expect(page.locator("#log-end-error")).to_be_empty()
    await expect(page.locator("#history li")).to_have_count(1)
    await expect(page.locator("#history li").first).to_contain_text("5 km")

    # A live workout: the timer runs, and a reload finds it running.
    await page.select_option("#live-type", "cycling")
    await page.click("#live-start")
    await expect(page.locator("#live-running")).to_be_visible()
    await expect(page.locator("#live-kind")).to_have_text("Cycling")
    # Counting: past 0:01 (a busy machine may skip a second's redraw, so no exact one).
    await expect(page.locator("#live-timer")).to_have_text(re.compile(r"^0:(0[2-9]|[1-5]\d)$"))
    await expect(page.locator("#history li").first).to_contain_text("running now")
    await page.reload()
    await expect(page.locator("#live-running")).to_be_visible()
    await expect(page.locator("#live-timer")).not_to_have_text("0:00")
    await page.fill("#live-distance", "1.5")
    await page.click("#live-end")
    await expect(page.locator("#live-status")).to_contain_text("Done: ")
    await expect(page.locator("#live-idle")).to_be_visible()
    await expect(page.locator("#history li")).to_have_count(2)

    # A file chosen through the input: uploaded, read, and its workout in the history.
    await page.set_input_files("#import-file", str(DATA / "run.tcx"))
    await expect(page.locator("#imports-empty")).to_be_hidden()
    done = page.locator('#imports li[data-status="done"]')
    await expect(done).to_contain_text("Imported: Running", timeout=30000)
    await expect(done).to_contain_text("run.tcx")
    await expect(page.locator("#history li")).to_have_count(3)

    # A broken file dropped on the form: accepted by its name, refused by its content.
    dropped = await page.evaluate_handle(
        """() => { const files = new DataTransfer();
                   files.items.add(new File(["<gpx>not a track"], "broken.gpx"));
                   return files; }"""
    )
    await page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    failed = page.locator('#imports li[data-status="failed"]')
    await expect(failed).to_contain_text("Could not import: ", timeout=30000)
    await expect(failed).to_contain_text("broken.gpx")
    await expect(page.locator("#history li")).to_have_count(3)

    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    kinds = sorted(w["workout_type"] for w in listed.json()["items"])
    assert kinds == ["cycling", "running", "running"]
    assert {w["status"] for w in listed.json()["items"]} == {"completed"}
    await fits(page, PHONE)
    await assert_accessible(page, "workouts")
    await page.screenshot(path=str(tmp_path / "workouts.png"), full_page=True)  # to look at
    watched.assert_stayed_home(gateway.url)
