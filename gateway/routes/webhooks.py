"""Webhooks: subscriptions to fitmesh events, POSTed to a URL of the user's, signed the
Standard Webhooks way, retried with backoff, and kept as dead letters to replay when every
retry failed. A user reaches only their own (404 for another's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway import idempotency
from gateway import webhook_models as models
from gateway.deps import Authenticated, Svc
from gateway.routes.users import Cursor, IdempotencyKey, Limit

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
StatusFilter = Annotated[models.DeliveryStatus | None, Query(description="Only this status.")]

CREATE = f"""Subscribes a URL to events: `workout.completed`, `workout.updated` and
`workout.deleted` (each with the workout's version: keep the newest), `import.finished`,
`metric.recorded` (a day's new total of steps, sleep minutes or water), `goal.achieved`.

The URL must be https and resolve to public addresses only (the server may allow http and
named networks). It is checked with a challenge first: fitmesh sends `GET
<url>?hub.mode=subscribe&hub.challenge=<random>&hub.verify_token=<verify_token>`, and the
receiver must answer `{{"hub.challenge": "<the same>"}}` as JSON within 5 s; otherwise the
answer is 400 naming the URL and why. An account has at most 20 webhooks, one per URL.

The answer carries the signing `secret`, shown this once. Each event is then POSTed as
`{{"type", "timestamp", "data"}}` with the headers `webhook-id` (the event's id, the same
on every retry and replay: de-duplicate by it), `webhook-timestamp` (Unix seconds) and
`webhook-signature` (`v1,` and the base64 HMAC-SHA256, keyed with the base64-decoded part
of the secret after `whsec_`, of `<webhook-id>.<webhook-timestamp>.<body>`). Answer 2xx to
accept; 5xx, 408, 429 (with `Retry-After`) and no answer are retried with exponential
backoff and jitter for about a day, then kept as dead letters; other answers (4xx,
redirects) are final.

A receiver that verifies signatures, with the standard library only:

```python
{models.RECEIVER_EXAMPLE}```
"""


@router.post("", status_code=201, response_model=models.WebhookCreated, description=CREATE)
async def create(
    body: models.WebhookCreate, caller: Authenticated, svc: Svc, key: IdempotencyKey = None
) -> models.WebhookCreated:
    # The answer holds the secret, so the key is kept by the user service alone, not Redis.
    attempt = idempotency.kept_by_service(key, f"webhook:{caller.user_id}", body)
    return await svc.clients.users.webhooks.create(caller.user_id, body, attempt)


@router.get("", response_model=models.WebhookList)
async def list_webhooks(caller: Authenticated, svc: Svc) -> models.WebhookList:
    """The caller's webhooks, newest first (secrets are not shown again)."""
    return await svc.clients.users.webhooks.list(caller.user_id)


@router.get("/{webhook_id}", response_model=models.Webhook)
async def get(webhook_id: str, caller: Authenticated, svc: Svc) -> models.Webhook:
    return await svc.clients.users.webhooks.get(caller.user_id, webhook_id)


@router.delete("/{webhook_id}", status_code=204)
async def delete(webhook_id: str, caller: Authenticated, svc: Svc) -> Response:
    """Removes the webhook and its delivery log; nothing more is sent to it."""
    await svc.clients.users.webhooks.delete(caller.user_id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/pause", response_model=models.Webhook)
async def pause(webhook_id: str, caller: Authenticated, svc: Svc) -> models.Webhook:
    """Stops deliveries. Events while paused are not kept for it; deliveries already
    pending wait, and go out when it is resumed."""
    return await svc.clients.users.webhooks.pause(caller.user_id, webhook_id)


@router.post("/{webhook_id}/resume", response_model=models.Webhook)
async def resume(webhook_id: str, caller: Authenticated, svc: Svc) -> models.Webhook:
    """Starts deliveries again, the pending ones at once."""
    return await svc.clients.users.webhooks.resume(caller.user_id, webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=models.DeliveryPage)
async def deliveries(
    webhook_id: str,
    caller: Authenticated,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: StatusFilter = None,
) -> models.DeliveryPage:
    """The delivery log, newest first: each delivery with its status (pending, delivered,
    failed, dead), its attempts (time, HTTP status, latency, error) and the body sent.
    `status=dead` lists the dead letters."""
    return await svc.clients.users.webhooks.deliveries(
        caller.user_id, webhook_id, limit, cursor, status
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=models.Replayed,
)
async def replay_one(
    webhook_id: str, delivery_id: str, caller: Authenticated, svc: Svc
) -> models.Replayed:
    """Sends a finished delivery (delivered, failed or dead) again, with its event's
    webhook-id, and a new round of retries. 400 while it is still pending, or while the
    webhook is paused."""
    return await svc.clients.users.webhooks.replay_one(caller.user_id, webhook_id, delivery_id)


@router.post("/{webhook_id}/replay", status_code=202, response_model=models.Replayed)
async def replay_dead(
    webhook_id: str, body: models.ReplaySince, caller: Authenticated, svc: Svc
) -> models.Replayed:
    """Sends again every dead letter of the webhook that died at or after `since`."""
    return await svc.clients.users.webhooks.replay_dead(caller.user_id, webhook_id, body.since)
