"""The web page's webhooks (Account area) in Chromium, on the webhook tests' own stack (its
user service allows http to loopback) with a real receiver: creations refused beside their
fields, one made (its secret shown once, copied, and the one that signs the deliveries),
its deliveries followed as they land, a dead letter's attempts and its replay, pause and
resume, and its deletion after a question. Each screen passes axe-core."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.helpers import wait_for
from tests.webhook_stack import Received, Receiver, Stack, always
from tests.webpage import DESKTOP, PHONE, assert_accessible, browser, fits, log_in, watch

__all__ = ["browser"]  # a fixture


def signed_with(secret: str, post: Received) -> bool:
    """The Standard Webhooks signature of a delivery checks out with this secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message = f"{post.headers['webhook-id']}.{post.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, message + post.body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    given = [s.partition(",")[2] for s in post.headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in given)


async def test_webhooks_from_creation_to_replay(
    browser: Browser, webhook_single: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    hooks = webhook_single
    me = await hooks.account()
    watched = await watch(browser, permissions=["clipboard-read", "clipboard-write"])
    page = watched.page
    await log_in(page, hooks.gateway.url, me.email, "account")
    await expect(page.locator("#webhooks .empty")).to_be_visible()
    await expect(page.locator("#webhooks .loading")).to_be_hidden()
    await assert_accessible(page, "webhooks, none yet")

    # Refusals beside their fields: an address off the public internet, no event at all;
    # and a URL that does not echo the challenge, in the form's status.
    await page.fill("#webhook-url", "http://10.0.0.7/hook")
    await page.click("#webhook-submit")
    await expect(page.locator("#webhook-url-error")).to_contain_text(
        "a private address, which is not allowed"
    )
    await expect(page.locator("#webhook-url")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#webhook-url")).to_be_focused()
    await page.fill("#webhook-url", receiver.url("/in"))
    await page.uncheck('#webhook-events input[value="workout.completed"]')
    await page.click("#webhook-submit")
    await expect(page.locator("#webhook-events-error")).not_to_be_empty()
    await expect(page.locator("#webhook-events")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#webhook-url-error")).to_be_empty()
    receiver.no_challenge.add("/mute")
    await page.fill("#webhook-url", receiver.url("/mute"))
    await page.check('#webhook-events input[value="workout.completed"]')
    await page.click("#webhook-submit")
    await expect(page.locator("#webhook-status")).to_contain_text("did not echo the challenge")
    await expect(page.locator("#webhooks .empty")).to_be_visible()

    # Made: the secret is shown once, with a button that copies it.
    await page.fill("#webhook-url", receiver.url("/in"))
    await page.check('#webhook-events input[value="goal.achieved"]')
    await page.click("#webhook-submit")
    await expect(page.locator("#webhook-status")).to_have_text(
        f"Created: {receiver.url('/in')} is sent goal.achieved, workout.completed."
    )
    await expect(page.locator("#webhook-secret-box")).to_be_visible()
    secret = await page.input_value("#webhook-secret")
    assert secret.startswith("whsec_")
    await expect(page.locator("#webhook-copy")).to_be_focused()
    await page.click("#webhook-copy")
    await expect(page.locator("#toasts .toast p", has_text="Secret copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    hook = page.locator("#webhooks li")
    await expect(hook).to_have_count(1)
    await expect(hook).to_contain_text(receiver.url("/in"))
    await expect(hook).to_have_attribute("data-status", "active")
    await assert_accessible(page, "webhooks, a secret shown")
    await page.locator("#webhooks-card").screenshot(path=str(tmp_path / "secret.png"))
    webhook_id = await hook.get_attribute("data-id")
    assert webhook_id is not None
    await page.click("#webhook-secret-done")
    await expect(page.locator("#webhook-secret-box")).to_be_hidden()
    assert await page.input_value("#webhook-secret") == ""
    (listed,) = (await hooks.api.get("/webhooks", headers=me.headers)).json()["items"]
    assert "secret" not in listed

    async def dispatched(count: int) -> bool:
        return len(hooks.deliveries(webhook_id)) == count

    # A delivery in the log; the secret shown is the one it is signed with.
    await hook.get_by_role("button", name="Deliveries").click()
    await expect(page.locator("#deliveries-title")).to_have_text(
        f"Deliveries to {receiver.url('/in')}"
    )
    await expect(page.locator("#deliveries .empty")).to_be_visible()
    await hooks.workout(me.user_id)
    await hooks.settled(webhook_id, 1)
    await page.click("#deliveries-refresh")
    delivered = page.locator('#deliveries li[data-status="delivered"]')
    await expect(delivered).to_have_count(1)
    await expect(delivered).to_contain_text("workout.completed")
    await expect(delivered).to_contain_text("1 attempt · HTTP 204 · ")
    (post,) = receiver.posts("/in")
    assert signed_with(secret, post)

    # A receiver that fails: the delivery is followed through its retries to a dead letter
    # (the stack's horizon is 3 s), with every attempt's status, latency and error.
    receiver.behaviours["/in"] = always(500)
    await hooks.workout(me.user_id)
    await wait_for(lambda: dispatched(2))
    await page.click("#deliveries-refresh")
    dead = page.locator('#deliveries li[data-status="dead"]')
    await expect(dead).to_have_count(1, timeout=30000)
    await expect(dead).to_contain_text("HTTP 500")
    await dead.locator("summary").click()
    attempts = dead.locator("tbody tr")
    tries = len(receiver.posts("/in")) - 1
    assert tries >= 2
    await expect(attempts).to_have_count(tries)
    await expect(attempts.first.locator("td").nth(1)).to_have_text("500")
    await expect(attempts.first.locator("td").nth(2)).to_contain_text(" ms")
    await assert_accessible(page, "webhooks, a dead letter")
    await page.screenshot(path=str(tmp_path / "webhooks.png"), full_page=True)  # to look at
    await page.set_viewport_size({"width": PHONE, "height": 800})
    await fits(page, PHONE)
    await assert_accessible(page, "webhooks on a phone")
    await page.screenshot(path=str(tmp_path / "webhooks-phone.png"), full_page=True)
    await page.set_viewport_size({"width": DESKTOP, "height": 900})

    # Replayed to a receiver that is well again: the same event, delivered, followed on the
    # page without a Refresh.
    dead_id = await dead.get_attribute("data-id")
    dead_event = receiver.posts("/in")[-1].headers["webhook-id"]
    receiver.behaviours["/in"] = always(204)
    await dead.get_by_role("button", name="Replay workout.completed", exact=False).click()
    await expect(page.locator("#deliveries-status")).to_contain_text("Sent again")
    replayed = page.locator(f'#deliveries li[data-id="{dead_id}"]')
    await expect(replayed).to_have_attribute("data-status", "delivered", timeout=20000)
    await expect(replayed).to_contain_text("HTTP 204")
    assert receiver.posts("/in")[-1].headers["webhook-id"] == dead_event
    await page.select_option("#deliveries-filter", "dead")
    await expect(page.locator("#deliveries .empty")).to_be_visible()
    await page.select_option("#deliveries-filter", "delivered")
    await expect(page.locator("#deliveries li")).to_have_count(2)

    # Paused and resumed.
    await hook.get_by_role("button", name="Pause").click()
    await expect(hook).to_have_attribute("data-status", "paused")
    await expect(hook.locator(".toggle")).to_be_focused()
    await expect(hook.locator(".toggle")).to_have_text("Resume")
    got = await hooks.api.get(f"/webhooks/{webhook_id}", headers=me.headers)
    assert got.json()["status"] == "paused"
    await hook.get_by_role("button", name="Resume").click()
    await expect(hook).to_have_attribute("data-status", "active")
    got = await hooks.api.get(f"/webhooks/{webhook_id}", headers=me.headers)
    assert got.json()["status"] == "active"

    # Deleted after a question; second thoughts first.
    await hook.locator(".delete").click()
    await expect(hook.get_by_role("button", name="Yes, delete")).to_be_focused()
    await hook.get_by_role("button", name="Keep it").click()
    await expect(hook.locator(".confirm")).to_have_count(0)
    await hook.locator(".delete").click()
    await hook.get_by_role("button", name="Yes, delete").click()
    await expect(page.locator("#webhooks .empty")).to_be_visible()
    await expect(page.locator("#deliveries-box")).to_be_hidden()

    async def gone() -> bool:
        answer = await hooks.api.get(f"/webhooks/{webhook_id}", headers=me.headers)
        return answer.status_code == 404

    await wait_for(gone, timeout=5)
    watched.assert_stayed_home(hooks.gateway.url)
