"""Webhook subscriptions through the gateway: the challenge, the SSRF rule, limits, owners,
idempotent creation, pause and resume, and the documentation of signatures."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from fitmesh.user.v1 import account_pb2, account_pb2_grpc
from gateway.webhook_models import RECEIVER_EXAMPLE
from tests.helpers import wait_for
from tests.webhook_stack import Receiver, Stack, failing_first

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def hooks(webhook_single: Stack) -> Stack:
    return webhook_single


async def test_creation_sends_the_challenge_and_shows_the_secret_once(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(
        me, receiver.url("/in?k=1"), ["goal.achieved", "workout.completed"], verify_token="t0k"
    )
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["goal.achieved", "workout.completed"]
    assert created["status"] == "active"
    challenge = [r for r in receiver.requests if r.method == "GET"]
    assert len(challenge) == 1
    assert challenge[0].path == "/in"
    got = (await hooks.api.get(f"/webhooks/{created['id']}", headers=me.headers)).json()
    assert "secret" not in got
    assert got["url"] == receiver.url("/in?k=1")
    listed = (await hooks.api.get("/webhooks", headers=me.headers)).json()["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    # The secret is stored encrypted, not as it was shown.
    stored = hooks.rows("SELECT secret_enc FROM webhooks WHERE webhook_id = %s", created["id"])
    assert created["secret"].encode() not in bytes(stored[0]["secret_enc"])


async def test_the_challenge_carries_the_verify_token(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    await hooks.subscribe(me, receiver.url("/token?app=7"), verify_token="my-token")
    (get,) = [r for r in receiver.requests if r.method == "GET"]
    assert get.path == "/token"
    assert get.query["hub.mode"] == ["subscribe"]
    assert get.query["hub.verify_token"] == ["my-token"]
    assert len(get.query["hub.challenge"][0]) >= 24
    assert get.query["app"] == ["7"]  # the URL's own query is kept


async def test_a_receiver_that_does_not_echo_the_challenge_is_refused(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    receiver.no_challenge.add("/mute")
    answer = await hooks.api.post(
        "/webhooks",
        json={"url": receiver.url("/mute"), "events": ["workout.completed"]},
        headers=me.headers,
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert receiver.url("/mute") in problem["detail"]
    assert "did not echo the challenge" in problem["detail"]
    assert hooks.rows("SELECT * FROM webhooks WHERE user_id = %s", me.user_id) == []


async def test_an_unreachable_receiver_is_refused(hooks: Stack) -> None:
    me = await hooks.account()
    url = "http://127.0.0.1:9/hook"  # discard port: nothing listens
    answer = await hooks.api.post(
        "/webhooks", json={"url": url, "events": ["workout.completed"]}, headers=me.headers
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{url} did not answer the challenge")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://10.0.0.7/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]:8080/hook", "loopback"),  # loopback, but only 127.0.0.0/8 is allowed
        ("http://[::ffff:192.168.1.1]/hook", "private"),
    ],
)
async def test_addresses_off_the_public_internet_are_refused(
    hooks: Stack, url: str, kind: str
) -> None:
    me = await hooks.account()
    answer = await hooks.api.post(
        "/webhooks", json={"url": url, "events": ["workout.completed"]}, headers=me.headers
    )
    assert answer.status_code == 400, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "url"
    assert f"a {kind} address, which is not allowed" in error["message"]


async def test_bad_requests_name_their_fields(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    cases = [
        ({"url": "ftp://example.com/x", "events": ["workout.completed"]}, "url"),
        ({"url": "https://u:p@example.com/x", "events": ["workout.completed"]}, "url"),
        ({"url": receiver.url("/x"), "events": ["workout.exploded"]}, "events.0"),
        ({"url": receiver.url("/x"), "events": []}, "events"),
        ({"url": receiver.url("/x")}, "events"),
    ]
    for body, field in cases:
        answer = await hooks.api.post("/webhooks", json=body, headers=me.headers)
        assert answer.status_code == 400, (body, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], (body, answer.text)
    assert not [r for r in receiver.requests if r.method == "GET"]


async def test_one_webhook_per_url_and_a_few_per_account(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    for n in range(3):
        await hooks.subscribe(me, receiver.url(f"/n{n}"))
    again = await hooks.api.post(
        "/webhooks",
        json={"url": receiver.url("/n0"), "events": ["goal.achieved"]},
        headers=me.headers,
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "url"
    fourth = await hooks.api.post(
        "/webhooks",
        json={"url": receiver.url("/n3"), "events": ["goal.achieved"]},
        headers=me.headers,
    )
    assert fourth.status_code == 400
    assert "at most 3 webhooks" in fourth.json()["detail"]
    # Refused before the receiver was bothered.
    assert "/n3" not in [r.path for r in receiver.requests]


async def test_an_idempotency_key_gives_the_first_answer_secret_included(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    body = {"url": receiver.url("/once"), "events": ["workout.completed"]}
    headers = {**me.headers, "Idempotency-Key": "create-once"}
    first = await hooks.api.post("/webhooks", json=body, headers=headers)
    second = await hooks.api.post("/webhooks", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len([r for r in receiver.requests if r.method == "GET"]) == 1
    other = await hooks.api.post(
        "/webhooks", json={**body, "events": ["goal.achieved"]}, headers=headers
    )
    assert other.status_code == 422


async def test_only_the_owner_reaches_a_webhook(hooks: Stack, receiver: Receiver) -> None:
    owner, stranger = await hooks.account(), await hooks.account()
    created = await hooks.subscribe(owner, receiver.url("/mine"))
    base = f"/webhooks/{created['id']}"
    for method, path in [
        ("GET", base),
        ("DELETE", base),
        ("POST", f"{base}/pause"),
        ("POST", f"{base}/resume"),
        ("GET", f"{base}/deliveries"),
        ("POST", f"{base}/replay"),
    ]:
        body = {"since": "2026-01-01T00:00:00Z"} if path.endswith("replay") else None
        answer = await hooks.api.request(method, path, json=body, headers=stranger.headers)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await hooks.api.get("/webhooks", headers=stranger.headers)).json() == {"items": []}
    assert (await hooks.api.get(base)).status_code == 401
    assert (await hooks.api.get("/webhooks/not-an-id", headers=owner.headers)).status_code == 400


async def test_pause_holds_deliveries_and_resume_sends_them(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    receiver.behaviours["/paused"] = failing_first(1, 503, {"Retry-After": "1"})
    created = await hooks.subscribe(me, receiver.url("/paused"))
    hook = f"/webhooks/{created['id']}"
    await hooks.workout(me.user_id)

    async def refused_once() -> bool:
        return len(receiver.posts("/paused")) == 1

    await wait_for(refused_once, timeout=10)
    paused = await hooks.api.post(f"{hook}/pause", headers=me.headers)
    assert paused.json()["status"] == "paused"
    await hooks.workout(me.user_id)  # while paused: not kept for it
    await asyncio.sleep(2)  # past the Retry-After: the retry waits for the resume
    assert len(receiver.posts("/paused")) == 1
    (pending,) = hooks.deliveries(created["id"])
    assert pending["status"] == "pending"

    resumed = await hooks.api.post(f"{hook}/resume", headers=me.headers)
    assert resumed.json()["status"] == "active"
    (delivered,) = await hooks.settled(created["id"], 1)
    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 2
    assert len(receiver.posts("/paused")) == 2


async def test_delete_removes_the_webhook_and_its_log(hooks: Stack, receiver: Receiver) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(me, receiver.url("/gone-soon"))
    await hooks.workout(me.user_id)
    await hooks.settled(created["id"], 1)
    assert (
        await hooks.api.delete(f"/webhooks/{created['id']}", headers=me.headers)
    ).status_code == 204
    assert (
        await hooks.api.get(f"/webhooks/{created['id']}", headers=me.headers)
    ).status_code == 404
    assert hooks.deliveries(created["id"]) == []
    await hooks.workout(me.user_id)
    assert len(receiver.posts("/gone-soon")) == 1


def _readme_receiver() -> str:
    text = README.read_text()
    found = re.search(
        r"<!-- receiver:start -->\n```python\n(.*?)```\n<!-- receiver:end -->", text, re.S
    )
    assert found, "the README's Webhooks section shows the receiver example"
    return found.group(1)


async def test_the_docs_show_the_receiver_the_readme_shows(hooks: Stack) -> None:
    assert _readme_receiver() == RECEIVER_EXAMPLE
    document = (await hooks.api.get(f"{hooks.gateway.url}/openapi.json")).json()
    create = document["paths"]["/api/v1/webhooks"]["post"]
    assert RECEIVER_EXAMPLE in create["description"]
    assert {
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/webhooks/{webhook_id}/replay",
    } <= set(document["paths"])


async def test_an_export_lists_webhooks_without_their_secrets(
    hooks: Stack, receiver: Receiver
) -> None:
    me = await hooks.account()
    created = await hooks.subscribe(me, receiver.url("/exported"))
    async with hooks.replicas[0].channel("gateway") as channel:
        stub = account_pb2_grpc.AccountServiceStub(channel)
        request = account_pb2.ExportAccountRequest(user_id=me.user_id)
        records = [(r.kind, json.loads(r.json)) async for r in stub.ExportAccount(request)]
    (webhook,) = [data for kind, data in records if kind == "webhook"]
    assert webhook["webhook_id"] == created["id"]
    assert webhook["url"] == receiver.url("/exported")
    assert "secret" not in json.dumps(webhook)
