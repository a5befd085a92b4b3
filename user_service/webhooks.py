"""Webhooks in the user service, as one part of the process: the gRPC servicer, and the
dispatcher and sender every replica runs (README "Webhooks"). The schedule lives in Redis;
a loop puts back, now and then, pending deliveries it lost (a Redis that restarted empty),
so the rows in PostgreSQL stay the record."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import redis.asyncio as aioredis
import structlog

from servicekit.background import Background
from user_service import webhook_http, webhook_rules
from user_service.security import Cipher
from user_service.settings import UserSettings
from user_service.store import Store
from user_service.webhook_dispatch import Dispatcher
from user_service.webhook_guards import Guards
from user_service.webhook_queue import Queue
from user_service.webhook_sender import Sender
from user_service.webhook_server import WebhookServicer
from user_service.webhook_store import WebhookStore

log = structlog.get_logger("webhooks")
RECONCILE_PAGE = 1000


class Webhooks:
    def __init__(
        self, store: Store, redis: aioredis.Redis, cipher: Cipher, settings: UserSettings
    ) -> None:
        self.settings, self.redis = settings, redis
        self.store = WebhookStore(store)
        self.queue = Queue(redis)
        rule = webhook_rules.AddressRule(webhook_rules.networks(settings.webhook_allowed_networks))
        self.http: httpx.AsyncClient = webhook_http.client(
            rule, settings.webhook_connect_timeout_seconds, settings.webhook_timeout_seconds
        )
        self.guards = Guards(
            settings.redis_url,
            settings.webhook_rate_limit,
            settings.webhook_breaker_failures,
            settings.webhook_breaker_reset_seconds,
        )
        self.servicer = WebhookServicer(self.store, self.queue, cipher, self.http, rule, settings)
        self.dispatcher = Dispatcher(self.store, self.queue, redis, settings)
        self.sender = Sender(self.store, self.queue, self.guards, cipher, self.http, settings)
        self._reconciler = Background(self._reconcile_forever)

    async def start(self) -> None:
        await self.dispatcher.start()
        await self.sender.start()
        self._reconciler.start()

    async def stop(self) -> None:
        await self._reconciler.stop()
        await self.dispatcher.stop()
        await self.sender.stop()
        await self.http.aclose()
        self.guards.close()

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook_reconcile_failed")
            await asyncio.sleep(self.settings.webhook_reconcile_seconds)

    async def reconcile(self) -> None:
        """Schedule every overdue pending delivery; those on the schedule or leased stay as
        they are (the schedule script leaves them), so this only restores lost ones."""
        now = dt.datetime.now(dt.UTC)
        after = None
        while rows := await self.store.overdue(now, after, RECONCILE_PAGE):
            await self.queue.schedule([r["delivery_id"] for r in rows])
            after = rows[-1]["next_at"], rows[-1]["delivery_id"]
            if len(rows) < RECONCILE_PAGE:
                break
