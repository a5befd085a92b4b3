"""An import's callback_url against a real receiver: the result arrives once, signed with
the secret of the 202 answer; a failure is a result too; a receiver's 500 is retried and the
result still accepted once; a private or malformed URL is refused before any import is made;
a failed file sent again is tried again with its new callback; a file imported before
answers 200 and makes no callback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Account, wait_for
from tests.webhook_stack import Receiver, Stack, failing_first

DATA = Path(__file__).resolve().parent.parent / "data"
NO_POINTS = b'<?xml version="1.0"?><gpx version="1.1" creator="t"><trk><trkseg/></trk></gpx>'


@pytest.fixture
def hooks(webhook_imports: Stack) -> Stack:
    return webhook_imports


def verifies(secret: str, post: Any) -> bool:
    """The Standard Webhooks check, as a receiver writes it."""
    headers = {k.lower(): v for k, v in post.headers.items()}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + post.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], expected)


async def upload(
    hooks: Stack, me: Account, name: str, content: bytes, **form: str
) -> httpx.Response:
    return await hooks.api.post(
        "/workouts/imports", headers=me.headers, files={"file": (name, content)}, data=form
    )


async def posts(receiver: Receiver, path: str, count: int) -> list[Any]:
    async def arrived() -> bool:
        return len(receiver.posts(path)) >= count

    await wait_for(arrived, timeout=60, interval=0.1)
    return receiver.posts(path)


async def finished(hooks: Stack, me: Account, import_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def ended() -> bool:
        got = await hooks.api.get(f"/workouts/imports/{import_id}", headers=me.headers)
        seen.update(got.json())
        return seen["status"] in ("done", "failed")

    await wait_for(ended, timeout=60, interval=0.2)
    return seen


async def test_the_result_arrives_once_signed_with_the_secret_of_the_answer(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    sent = await upload(
        hooks, me, "run.fit", (DATA / "run.fit").read_bytes(), callback_url=receiver.url("/cb")
    )
    assert sent.status_code == 202, sent.text
    callback = sent.json()["callback"]
    assert callback["kind"] == "callback"
    assert callback["events"] == ["import.finished"]
    assert callback["secret"].startswith("whsec_")
    import_id = sent.json()["import_id"]
    (post,) = await posts(receiver, "/cb", 1)
    assert verifies(callback["secret"], post)
    done = await finished(hooks, me, import_id)
    body = post.json
    assert body["type"] == "import.finished"
    assert body["data"]["import_id"] == import_id
    assert body["data"]["status"] == "done"
    assert body["data"]["workout_id"] == done["session_id"]
    assert "callback_id" not in body["data"]
    # Another import of the same user, without a callback, is not this callback's.
    other = await upload(hooks, me, "run.tcx", (DATA / "run.tcx").read_bytes())
    assert other.status_code == 202, other.text
    await finished(hooks, me, other.json()["import_id"])
    await asyncio.sleep(1)
    assert len(receiver.posts("/cb")) == 1
    # Not listed among the subscriptions; its delivery log is there by its id.
    listed = await hooks.api.get("/webhooks", headers=me.headers)
    assert listed.json()["items"] == []
    log = await hooks.api.get(f"/webhooks/{callback['id']}/deliveries", headers=me.headers)
    (delivery,) = log.json()["items"]
    assert delivery["status"] == "delivered"
    assert delivery["event_id"] == post.headers["webhook-id"]


async def test_a_refused_callback_url_is_a_400_and_no_import(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    content = (DATA / "hike.gpx").read_bytes()
    for url, why in (
        ("http://192.168.10.20/hook", "192.168.10.20 is a private address"),
        ("http://10.0.0.1:8080/hook", "10.0.0.1 is a private address"),
        ("ftp://example.com/hook", "must start with"),
        ("http://user:pw@127.0.0.1/hook", "must not carry a user name or password"),
    ):
        refused = await upload(hooks, me, "hike.gpx", content, callback_url=url)
        assert refused.status_code == 400, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        (error,) = refused.json()["errors"]
        assert error["field"] == "callback_url"
        assert why in error["message"], (url, error)
    # No import was made by any of them: the file is new.
    first = await upload(hooks, me, "hike.gpx", content, workout_type="hiking")
    assert first.status_code == 202, first.text
    assert first.json()["callback"] is None


async def test_a_receiver_that_fails_first_gets_the_result_once_on_retry(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    receiver.behaviours["/flaky"] = failing_first(1, 500)
    sent = await upload(
        hooks, me, "run.fit", (DATA / "run.fit").read_bytes(), callback_url=receiver.url("/flaky")
    )
    assert sent.status_code == 202, sent.text
    callback = sent.json()["callback"]
    first, second = await posts(receiver, "/flaky", 2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert verifies(callback["secret"], second)
    (delivery,) = await hooks.settled(callback["id"], 1)
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in hooks.attempts(delivery["delivery_id"])] == [500, 204]
    await asyncio.sleep(1.5)  # several backoff ceilings: nothing more comes
    assert len(receiver.posts("/flaky")) == 2


async def test_a_failed_import_is_a_result_and_a_repeat_makes_no_callback(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    sent = await upload(hooks, me, "empty.gpx", NO_POINTS, callback_url=receiver.url("/fail"))
    assert sent.status_code == 202, sent.text
    (post,) = await posts(receiver, "/fail", 1)
    assert verifies(sent.json()["callback"]["secret"], post)
    data = post.json["data"]
    assert (data["status"], data["workout_id"]) == ("failed", "")
    assert data["error"].startswith("GPX")
    # Sent again, a failed import is tried again: its new end goes to the new callback only.
    retried = await upload(hooks, me, "empty.gpx", NO_POINTS, callback_url=receiver.url("/retry"))
    assert retried.status_code == 202, retried.text
    (again_post,) = await posts(receiver, "/retry", 1)
    assert verifies(retried.json()["callback"]["secret"], again_post)
    assert again_post.headers["webhook-id"] != post.headers["webhook-id"]
    assert again_post.json["data"]["status"] == "failed"
    # The same file again, while its earlier import is done: 200 with the import, which
    # began no work, so no callback is made for it.
    done = await upload(hooks, me, "run.fit", (DATA / "run.fit").read_bytes())
    await finished(hooks, me, done.json()["import_id"])
    again = await upload(
        hooks, me, "run.fit", (DATA / "run.fit").read_bytes(), callback_url=receiver.url("/again")
    )
    assert again.status_code == 200, again.text
    assert again.json()["callback"] is None
    await asyncio.sleep(1)
    assert receiver.posts("/again") == []
    assert len(receiver.posts("/fail")) == 1
