"""gRPC glue of fitmesh.user.v1.WebhookService: validate, call the store, shape the answer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import httpx

from fitmesh.user.v1 import webhooks_pb2 as pb
from fitmesh.user.v1 import webhooks_pb2_grpc
from servicekit import pagination
from servicekit.errors import AlreadyExists, FailedPrecondition, IdempotencyKeyReused, Violations
from servicekit.protoenum import enum_name, enum_number
from servicekit.protofields import timestamp, to_datetime
from user_service import webhook_http, webhook_rules
from user_service.rules import parse_id
from user_service.security import Cipher
from user_service.settings import UserSettings
from user_service.store import Row
from user_service.webhook_queue import Queue
from user_service.webhook_store import WebhookStore

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TOKEN = 128


def _ids(request: Any) -> tuple[uuid.UUID, uuid.UUID]:
    v = Violations()
    ids = parse_id(v, "user_id", request.user_id), parse_id(v, "webhook_id", request.webhook_id)
    v.raise_if_any()
    return ids


def webhook_proto(row: Row) -> pb.Webhook:
    return pb.Webhook(
        webhook_id=str(row["webhook_id"]),
        user_id=str(row["user_id"]),
        url=row["url"],
        events=row["events"],
        status=enum_number(pb.WebhookStatus, row["status"]) or 0,  # type: ignore[arg-type]
        created_at=timestamp(row["created_at"]),
        kind=enum_number(pb.WebhookKind, row["kind"]) or 0,  # type: ignore[arg-type]
    )


def delivery_proto(row: Row, attempts: list[Row]) -> pb.Delivery:
    delivery = pb.Delivery(
        delivery_id=str(row["delivery_id"]),
        webhook_id=str(row["webhook_id"]),
        event_id=row["event_id"],
        event_type=row["event_type"],
        status=enum_number(pb.DeliveryStatus, row["status"]) or 0,  # type: ignore[arg-type]
        attempts=row["attempts"],
        created_at=timestamp(row["created_at"]),
        last_status_code=row["last_status"] or 0,
        last_latency_ms=row["last_latency_ms"] or 0,
        last_error=row["last_error"] or "",
        payload_json=json.dumps(row["payload"], separators=(",", ":")),
        attempt_log=[
            pb.DeliveryAttempt(
                number=a["n"],
                at=timestamp(a["at"]),
                status_code=a["status_code"] or 0,
                latency_ms=a["latency_ms"],
                error=a["error"] or "",
            )
            for a in attempts
        ],
    )
    if row["status"] == "pending":
        delivery.next_attempt_at.CopyFrom(timestamp(row["next_at"]))
    if row["finished_at"] is not None:
        delivery.finished_at.CopyFrom(timestamp(row["finished_at"]))
    return delivery


class WebhookServicer(webhooks_pb2_grpc.WebhookServiceServicer):
    def __init__(
        self,
        store: WebhookStore,
        queue: Queue,
        cipher: Cipher,
        http: httpx.AsyncClient,
        rule: webhook_rules.AddressRule,
        settings: UserSettings,
    ) -> None:
        self.store, self.queue, self.cipher, self.settings = store, queue, cipher, settings
        self.http, self.rule = http, rule

    async def CreateWebhook(
        self, request: pb.CreateWebhookRequest, context: Context
    ) -> pb.CreateWebhookResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        webhook_rules.check_url(v, request.url, self.settings.webhook_allow_http)
        events = webhook_rules.check_events(v, request.events)
        webhook_rules.check_verify_token(v, request.verify_token)
        for name in ("request_id", "request_fingerprint"):
            if len(getattr(request, name)) > MAX_TOKEN:
                v.add(name, f"at most {MAX_TOKEN} characters")
        v.raise_if_any()
        if first := await self._created(user_id, request):
            return first
        await self._check_room(user_id, request.url)
        await webhook_http.challenge(
            self.http,
            request.url,
            request.verify_token,
            self.settings.webhook_challenge_timeout_seconds,
        )
        secret = webhook_rules.new_secret()
        values = {
            "webhook_id": uuid.uuid4(),
            "user_id": user_id,
            "url": request.url,
            "events": events,
            "secret_enc": self.cipher.encrypt(secret),
            "idempotency_key": request.request_id or None,
            "request_fingerprint": request.request_fingerprint or None,
        }
        try:
            row = await self.store.create(values, self.settings.webhook_max_per_user)
        except AlreadyExists:
            # A concurrent repeat of the same request may have won: its answer is ours.
            if first := await self._created(user_id, request):
                return first
            raise
        return pb.CreateWebhookResponse(webhook=webhook_proto(row), secret=secret)

    async def _created(
        self, user_id: uuid.UUID, request: pb.CreateWebhookRequest
    ) -> pb.CreateWebhookResponse | None:
        """What an earlier creation with this request's key answered; None for a new key."""
        if not request.request_id:
            return None
        first = await self.store.of_request(user_id, request.request_id)
        if first is None:
            return None
        IdempotencyKeyReused.check(first["request_fingerprint"], request.request_fingerprint)
        secret = self.cipher.decrypt(bytes(first["secret_enc"]))
        return pb.CreateWebhookResponse(webhook=webhook_proto(first), secret=secret)

    async def _check_room(self, user_id: uuid.UUID, url: str) -> None:
        """Refusals the store would make anyway, made before the receiver is bothered."""
        existing = await self.store.of_user(user_id)
        if any(row["url"] == url for row in existing):
            raise AlreadyExists("a webhook for this url exists already", "url")
        most = self.settings.webhook_max_per_user
        if len(existing) >= most:
            raise FailedPrecondition(f"an account has at most {most} webhooks; delete one first")

    async def ListWebhooks(
        self, request: pb.ListWebhooksRequest, context: Context
    ) -> pb.ListWebhooksResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        v.raise_if_any()
        rows = await self.store.of_user(user_id)
        return pb.ListWebhooksResponse(webhooks=[webhook_proto(r) for r in rows])

    async def GetWebhook(
        self, request: pb.GetWebhookRequest, context: Context
    ) -> pb.GetWebhookResponse:
        return pb.GetWebhookResponse(webhook=webhook_proto(await self.store.get(*_ids(request))))

    async def DeleteWebhook(
        self, request: pb.DeleteWebhookRequest, context: Context
    ) -> pb.DeleteWebhookResponse:
        await self.store.delete(*_ids(request))
        return pb.DeleteWebhookResponse()

    async def PauseWebhook(
        self, request: pb.PauseWebhookRequest, context: Context
    ) -> pb.PauseWebhookResponse:
        row = await self.store.set_status(*_ids(request), "paused")
        return pb.PauseWebhookResponse(webhook=webhook_proto(row))

    async def ResumeWebhook(
        self, request: pb.ResumeWebhookRequest, context: Context
    ) -> pb.ResumeWebhookResponse:
        row = await self.store.set_status(*_ids(request), "active")
        await self.queue.schedule(await self.store.pending_of(row["webhook_id"]))
        return pb.ResumeWebhookResponse(webhook=webhook_proto(row))

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Context
    ) -> pb.ListDeliveriesResponse:
        user_id, webhook_id = _ids(request)
        v = Violations()
        status = enum_name(pb.DeliveryStatus, request.status)
        if request.status and status is None:
            v.add("status", "unknown value")
        after = pagination.decode(request.page_token)
        if after is not None:
            parse_id(v, "page_token", after[1])
        v.raise_if_any()
        limit = pagination.page_size(request.page_size)
        page, attempts = await self.store.deliveries(user_id, webhook_id, status, limit, after)
        token = ""
        if page.more:
            last = page.rows[-1]
            token = pagination.encode(last["created_at"], str(last["delivery_id"]))
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_proto(r, attempts.get(r["delivery_id"], [])) for r in page.rows],
            next_page_token=token,
        )

    async def ReplayDeliveries(
        self, request: pb.ReplayDeliveriesRequest, context: Context
    ) -> pb.ReplayDeliveriesResponse:
        user_id, webhook_id = _ids(request)
        v = Violations()
        target = request.WhichOneof("target")
        one = parse_id(v, "delivery_id", request.delivery_id) if target == "delivery_id" else None
        since = to_datetime(request.dead_since) if target == "dead_since" else None
        if target is None:
            v.add("target", "name a delivery_id, or dead_since for every dead letter since")
        v.raise_if_any()
        ids = await self.store.replay(user_id, webhook_id, one, since)
        await self.queue.schedule(ids)
        return pb.ReplayDeliveriesResponse(replayed=len(ids))

    async def CreateCallback(
        self, request: pb.CreateCallbackRequest, context: Context
    ) -> pb.CreateCallbackResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        url = request.callback_url
        webhook_rules.check_url(v, url, self.settings.webhook_allow_http, "callback_url")
        if request.event_type not in webhook_rules.CALLBACK_EVENTS:
            v.add("event_type", f"must be one of {', '.join(webhook_rules.CALLBACK_EVENTS)}")
        v.raise_if_any()
        # The address rule now, so a refused URL is refused with the request (400) rather
        # than found out by a dead letter later; no challenge: the caller names it per request.
        timeout = self.settings.webhook_connect_timeout_seconds
        await webhook_http.check_address(self.rule, url, timeout, "callback_url")
        secret = webhook_rules.new_secret()
        row = await self.store.create_callback(
            {
                "webhook_id": uuid.uuid4(),
                "user_id": user_id,
                "url": url,
                "events": [request.event_type],
                "secret_enc": self.cipher.encrypt(secret),
            }
        )
        return pb.CreateCallbackResponse(webhook=webhook_proto(row), secret=secret)
