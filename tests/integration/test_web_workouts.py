"""The web page's Workouts area in Chromium: a refused log with its error beside the field,
a finished workout logged, a live one started (its timer runs, and survives a reload) and
ended, a TCX file imported through the file input and a broken GPX dropped on the form,
each followed to its end; the history lists what the API holds. Then a workout edited in
its dialog (a refusal beside the field, a change made elsewhere meanwhile: 412, read
again) and one deleted after a question (first refused by its stale version); the goal it
took below its target says so in a toast, and the dashboard shows the totals and score
that are left."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from devstack import services
from tests.helpers import Account, sign_up, wait_for
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


async def log(
    api: httpx.AsyncClient, me: Account, kind: str, ago: int, minutes: int
) -> dict[str, Any]:
    """A `kind` workout of `minutes` that started `ago` minutes ago, through the API."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(minutes=ago)
    body = {
        "workout_type": kind,
        "start_time": start.isoformat(),
        "end_time": (start + dt.timedelta(minutes=minutes)).isoformat(),
    }
    logged = await api.post("/workouts", headers=me.headers, json=body)
    assert logged.status_code == 201, logged.text
    workout: dict[str, Any] = logged.json()
    return workout


async def test_edit_and_delete_workouts(
    browser: Browser, api: httpx.AsyncClient, gateway: services.HttpProcess, tmp_path: Path
) -> None:
    me = await sign_up(api)
    target = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    goal_body = {"goal_type": "workouts_count", "target_value": 2, "target_date": target}
    goal = (await api.post(f"/users/{me.user_id}/goals", headers=me.headers, json=goal_body)).json()
    run = await log(api, me, "running", ago=70, minutes=30)
    walk = await log(api, me, "walking", ago=35, minutes=25)

    async def goal_is(status: str) -> bool:
        got = await api.get(f"/users/{me.user_id}/goals/{goal['goal_id']}", headers=me.headers)
        return bool(got.json()["status"] == status)

    # The user service counts them from the event stream: seconds on a busy machine.
    await wait_for(lambda: goal_is("achieved"), timeout=60)

    async def workout(w: dict[str, Any]) -> httpx.Response:
        return await api.get(f"/workouts/{w['session_id']}", headers=me.headers)

    async def change_elsewhere(w: dict[str, Any], version: int, **fields: Any) -> None:
        headers = {**me.headers, "If-Match": f'"{version}"'}
        changed = await api.patch(f"/workouts/{w['session_id']}", headers=headers, json=fields)
        assert changed.status_code == 200, changed.text

    watched = await watch(browser, width=PHONE)
    page = watched.page
    await log_in(page, gateway.url, me.email, "workouts")
    await expect(page.locator("#history li")).to_have_count(2)
    ran = page.locator(f'#history li[data-id="{run["session_id"]}"]')
    walked = page.locator(f'#history li[data-id="{walk["session_id"]}"]')
    dialog = page.locator("#edit-dialog")

    # Edit the run: a refused heart rate beside its field, then a change that goes through.
    await ran.locator(".edit").click()
    await expect(dialog).to_be_visible()
    await expect(page.locator("#edit-type")).to_have_value("running")
    await expect(page.locator("#edit-distance")).to_have_value("")
    await page.fill("#edit-hr", "500")
    await page.click("#edit-submit")
    await expect(page.locator("#edit-hr-error")).to_contain_text("less than or equal to 250")
    await expect(page.locator("#edit-hr")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#edit-hr")).to_be_focused()
    await fits(page, PHONE)
    await assert_accessible(page, "workouts, editing")
    await page.screenshot(path=str(tmp_path / "editing.png"))  # to look at
    await page.fill("#edit-hr", "150")
    await page.fill("#edit-distance", "8")
    await page.click("#edit-submit")
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#history-status")).to_contain_text("Saved running, 30 min:")
    await expect(ran).to_contain_text("8 km")
    await expect(ran.locator(".edit")).to_be_focused()
    edited = (await workout(run)).json()
    assert (edited["version"], edited["distance_m"], edited["avg_heart_rate"]) == (2, 8000, 150)
    # Only what was changed was sent: the times keep their seconds, which the form hides.
    assert edited["start_time"] == run["start_time"]
    assert edited["end_time"] == run["end_time"]

    # Changed elsewhere while the dialog is open: 412, and the dialog shows it as it is now.
    await ran.locator(".edit").click()
    await change_elsewhere(run, 2, distance_m=9000)
    await page.fill("#edit-distance", "10")
    await page.click("#edit-submit")
    await expect(page.locator("#edit-status")).to_contain_text(
        "Someone changed this workout since you opened it"
    )
    await expect(page.locator("#edit-distance")).to_have_value("9")
    await expect(dialog).to_be_visible()
    await expect(ran).to_contain_text("9 km")
    await page.fill("#edit-distance", "10")
    await page.click("#edit-submit")
    await expect(dialog).to_be_hidden()
    await expect(ran).to_contain_text("10 km")
    edited = (await workout(run)).json()
    assert (edited["version"], edited["distance_m"]) == (4, 10000)

    # Deleting asks first; second thoughts keep it.
    await change_elsewhere(walk, 1, avg_heart_rate=120)  # the list still has version 1
    await walked.locator(".delete").click()
    await expect(walked.locator(".confirm")).to_contain_text("Delete the Walking of")
    await expect(walked.get_by_role("button", name="Yes, delete")).to_be_focused()
    await assert_accessible(page, "workouts, deleting")
    await page.screenshot(path=str(tmp_path / "deleting.png"), full_page=True)  # to look at
    await walked.get_by_role("button", name="Keep it").click()
    await expect(walked.locator(".confirm")).to_have_count(0)
    await expect(walked.locator(".delete")).to_be_focused()
    # The list's version is stale: refused, and the list is read again.
    await walked.locator(".delete").click()
    await walked.get_by_role("button", name="Yes, delete").click()
    await expect(page.locator("#history-status")).to_contain_text(
        "This workout changed since the list was read"
    )
    await expect(page.locator("#history li")).to_have_count(2)
    assert (await workout(walk)).status_code == 200
    await walked.locator(".delete").click()
    await walked.get_by_role("button", name="Yes, delete").click()
    await expect(page.locator("#history-status")).to_contain_text("Deleted the walking of")
    await expect(page.locator("#history li")).to_have_count(1)
    assert (await workout(walk)).status_code == 404

    # One workout of two: the goal is no longer achieved, said at once on the open page.
    toast = page.locator("#toasts .toast p", has_text="No longer achieved")
    await expect(toast).to_have_text(
        "No longer achieved: Workouts 2. A workout was changed or deleted.", timeout=30000
    )
    await wait_for(lambda: goal_is("active"))

    # The dashboard shows what is left: one run, as edited.
    await page.click('#nav a[data-area="dashboard"]')
    await expect(page.locator("#stats tbody tr")).to_have_count(1)
    await expect(page.locator("#stats tbody tr th")).to_have_text("Running")
    await expect(page.locator("#stats-total")).to_contain_text("1 workout, 30 min in all")
    await expect(page.locator("#recent li")).to_have_count(1)
    await expect(page.locator("#recent li")).to_contain_text("10 km")
    score = (await api.get(f"/users/{me.user_id}/activity-score", headers=me.headers)).json()
    await expect(page.locator("#score-150-label")).to_have_text(
        f"{score['intensity_minutes']:g} of 150 intensity minutes"
    )
    await expect(page.locator('#goals li[data-status="active"]')).to_contain_text(
        "Workouts: 1 of 2"
    )
    await expect(page.locator('#alerts li[data-kind="goal_unachieved"]')).to_contain_text(
        "Workouts 2 no longer achieved"
    )
    await expect(page.locator('#alerts li[data-kind="goal_achieved"]')).to_have_count(1)
    await assert_accessible(page, "dashboard after a deletion")
    watched.assert_stayed_home(gateway.url)
