"""Webhooks, as the routes see them: subscriptions, their delivery log and replays. Kept by
the user service's replicas: the same channel and breaker as the Users client."""

from __future__ import annotations

import datetime as dt

from fitmesh.user.v1 import webhooks_pb2 as wpb
from fitmesh.user.v1 import webhooks_pb2_grpc
from gateway import webhook_models as models
from gateway.clients.backend import Backend
from gateway.idempotency import Attempt
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

SERVICE = "fitmesh.user.v1.WebhookService"
# Pause and resume set a state, so a repeat changes nothing; a repeated delete would be a
# 404, and a repeated create would send a second challenge.
IDEMPOTENT = ("ListWebhooks", "GetWebhook", "PauseWebhook", "ResumeWebhook", "ListDeliveries")


class Webhooks:
    def __init__(self, backend: Backend, create_deadline: float) -> None:
        self.backend = backend
        self.stub = webhooks_pb2_grpc.WebhookServiceStub(backend.channel)
        # Creating waits for the receiver to answer its challenge.
        self.create_deadline = create_deadline

    async def create(
        self, user_id: str, body: models.WebhookCreate, attempt: Attempt
    ) -> models.WebhookCreated:
        reply = await self.backend.call(
            self.stub.CreateWebhook,
            wpb.CreateWebhookRequest(
                user_id=user_id,
                url=body.url,
                events=body.events,
                verify_token=body.verify_token,
                request_id=attempt.scoped_key,
                request_fingerprint=attempt.fingerprint,
            ),
            timeout=self.create_deadline,
        )
        webhook = models.Webhook.from_proto(reply.webhook)
        return models.WebhookCreated(**webhook.model_dump(), secret=reply.secret)

    async def create_callback(
        self, user_id: str, callback_url: str, event_type: str
    ) -> models.WebhookCreated:
        """A one-off webhook for the result of work about to begin; 400 naming
        callback_url when the URL or an address of its host is refused."""
        reply = await self.backend.call(
            self.stub.CreateCallback,
            wpb.CreateCallbackRequest(
                user_id=user_id, callback_url=callback_url, event_type=event_type
            ),
        )
        webhook = models.Webhook.from_proto(reply.webhook)
        return models.WebhookCreated(**webhook.model_dump(), secret=reply.secret)

    async def list(self, user_id: str) -> models.WebhookList:
        reply = await self.backend.call(
            self.stub.ListWebhooks, wpb.ListWebhooksRequest(user_id=user_id)
        )
        return models.WebhookList(items=[models.Webhook.from_proto(w) for w in reply.webhooks])

    async def get(self, user_id: str, webhook_id: str) -> models.Webhook:
        reply = await self.backend.call(
            self.stub.GetWebhook, wpb.GetWebhookRequest(user_id=user_id, webhook_id=webhook_id)
        )
        return models.Webhook.from_proto(reply.webhook)

    async def delete(self, user_id: str, webhook_id: str) -> None:
        await self.backend.call(
            self.stub.DeleteWebhook,
            wpb.DeleteWebhookRequest(user_id=user_id, webhook_id=webhook_id),
        )

    async def pause(self, user_id: str, webhook_id: str) -> models.Webhook:
        reply = await self.backend.call(
            self.stub.PauseWebhook, wpb.PauseWebhookRequest(user_id=user_id, webhook_id=webhook_id)
        )
        return models.Webhook.from_proto(reply.webhook)

    async def resume(self, user_id: str, webhook_id: str) -> models.Webhook:
        reply = await self.backend.call(
            self.stub.ResumeWebhook,
            wpb.ResumeWebhookRequest(user_id=user_id, webhook_id=webhook_id),
        )
        return models.Webhook.from_proto(reply.webhook)

    async def deliveries(
        self,
        user_id: str,
        webhook_id: str,
        limit: int,
        cursor: str | None,
        status: models.DeliveryStatus | None,
    ) -> models.DeliveryPage:
        request = wpb.ListDeliveriesRequest(
            user_id=user_id, webhook_id=webhook_id, page_size=limit, page_token=cursor or ""
        )
        if status is not None:
            request.status = enum_number(wpb.DeliveryStatus, status) or 0  # type: ignore[assignment]
        reply = await self.backend.call(self.stub.ListDeliveries, request)
        return models.DeliveryPage(
            items=[models.Delivery.from_proto(d) for d in reply.deliveries],
            next_cursor=reply.next_page_token or None,
        )

    async def replay_one(self, user_id: str, webhook_id: str, delivery_id: str) -> models.Replayed:
        return await self._replay(
            wpb.ReplayDeliveriesRequest(
                user_id=user_id, webhook_id=webhook_id, delivery_id=delivery_id
            )
        )

    async def replay_dead(
        self, user_id: str, webhook_id: str, since: dt.datetime
    ) -> models.Replayed:
        return await self._replay(
            wpb.ReplayDeliveriesRequest(
                user_id=user_id, webhook_id=webhook_id, dead_since=timestamp(since)
            )
        )

    async def _replay(self, request: wpb.ReplayDeliveriesRequest) -> models.Replayed:
        reply = await self.backend.call(self.stub.ReplayDeliveries, request)
        return models.Replayed(replayed=reply.replayed)
