"""The sender: takes due deliveries from the schedule with a lease and POSTs each, signed,
as a task of its own, so a slow receiver holds only its own tasks (at most
WEBHOOK_PER_DESTINATION of them per replica, WEBHOOK_CONCURRENCY in all).

Before an attempt, the destination's breaker and rate limit may say wait: the delivery goes
back on the schedule for then, and no attempt is counted. After one, the attempt is recorded
with the delivery's new state (delivered; failed for good; due again after a backoff with
full jitter or the receiver's Retry-After; or dead past the attempts and time allowed), and
the delivery leaves the lease for the schedule or for good."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import httpx
import structlog
from prometheus_client import Counter, Gauge, Histogram

from servicekit.background import Background
from user_service import webhook_http, webhook_rules
from user_service.security import Cipher
from user_service.settings import UserSettings
from user_service.store import Row
from user_service.webhook_guards import Guards
from user_service.webhook_queue import Lease, Queue
from user_service.webhook_rules import RetryPolicy, Verdict
from user_service.webhook_slots import Slots
from user_service.webhook_store import Outcome, WebhookStore

log = structlog.get_logger("webhooks")
DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Deliveries finished, by result: delivered, failed (refused for good), dead (a dead letter).",
    ["result"],
)
RETRIES = Counter("webhook_retries_total", "Failed attempts scheduled to be tried again.")
DEFERRED = Counter(
    "webhook_deferred_total",
    "Deliveries put back without an attempt, by reason: breaker_open, rate_limited, busy.",
    ["reason"],
)
ATTEMPT_SECONDS = Histogram(
    "webhook_attempt_seconds",
    "Time of one POST to a receiver, answered or not.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("webhook_queue_depth", "Deliveries on the schedule (the due set).")
OLDEST_DUE = Gauge(
    "webhook_oldest_due_age_seconds", "How long past its time the oldest due delivery waits."
)
NOT_SENT_OURS = "not sent: an error in fitmesh (see its logs)"
NOT_SENT = {
    "breaker_open": "not sent in time: the receiver kept failing (its breaker is open)",
    "rate_limited": "not sent in time: over the receiver's rate limit",
}
GAUGE_EVERY = 1.0


def policy(settings: UserSettings) -> RetryPolicy:
    return RetryPolicy(
        settings.webhook_retry_base_seconds,
        settings.webhook_retry_cap_seconds,
        settings.webhook_retry_after_cap_seconds,
        settings.webhook_max_attempts,
        settings.webhook_horizon_seconds,
    )


def outcome(row: Row, answer: webhook_http.Answer, at: dt.datetime, rules: RetryPolicy) -> Outcome:
    """Where an attempt leaves its delivery."""
    kind = Verdict.FAILED if answer.refused else webhook_rules.verdict(answer.status)
    status, next_at = kind.value, None
    if kind is Verdict.RETRY:
        now = dt.datetime.now(dt.UTC)
        after = webhook_rules.retry_after_seconds(answer.retry_after, now)
        next_at = rules.next_attempt(row["round_attempts"] + 1, row["round_started_at"], now, after)
        status = "pending" if next_at is not None else "dead"
    return Outcome(at, answer.status, answer.latency_ms, answer.error, status, next_at)


class Sender:
    def __init__(
        self,
        store: WebhookStore,
        queue: Queue,
        guards: Guards,
        cipher: Cipher,
        http: httpx.AsyncClient,
        settings: UserSettings,
    ) -> None:
        self.store, self.queue, self.guards, self.cipher = store, queue, guards, cipher
        self.http, self.settings, self.rules = http, settings, policy(settings)
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = Slots(settings.webhook_per_destination)
        self._loop = Background(self._run)
        self._gauges_at = 0.0

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        for task in list(self.tasks):
            task.cancel()  # their leases run out and another replica sends them
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sender_step_failed")
                await asyncio.sleep(1)

    async def step(self) -> None:
        free = self.settings.webhook_concurrency - len(self.tasks)
        if not free:
            await asyncio.wait(
                self.tasks,
                timeout=self.settings.webhook_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            return
        leases = await self.queue.take(free, self.settings.webhook_lease_seconds)
        for lease in leases:
            task = asyncio.create_task(self.deliver(lease))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        await self._gauges()
        if len(leases) < free:  # nothing more is due now
            await self._idle()

    async def _idle(self) -> None:
        """Until something is due, something is scheduled here, or the poll time passes."""
        wait = self.settings.webhook_poll_seconds
        if (due_in := await self.queue.next_due_in()) is not None:
            wait = min(wait, due_in)
        self.queue.wake.clear()
        if wait > 0:
            try:
                async with asyncio.timeout(wait):
                    await self.queue.wake.wait()
            except TimeoutError:
                pass

    async def _gauges(self) -> None:
        if time.monotonic() - self._gauges_at < GAUGE_EVERY:
            return
        self._gauges_at = time.monotonic()
        depth, late = await self.queue.depth()
        QUEUE_DEPTH.set(depth)
        OLDEST_DUE.set(late)

    async def deliver(self, lease: Lease) -> None:
        try:
            await self._deliver(lease)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception("delivery_failed", delivery_id=str(lease.delivery_id))

    async def _deliver(self, lease: Lease) -> None:
        ready = await self._ready(lease)
        if ready is None:
            return
        row, destination = ready
        with self.slots.taken(destination):
            at = dt.datetime.now(dt.UTC)
            try:
                answer = await self._post(row, at)
            except Exception:
                # Ours, not the receiver's (a secret no key decrypts): an attempt that
                # failed, retried and in the end dead like any, rather than a lease that
                # runs out again and again.
                log.exception("delivery_not_sent", delivery_id=str(lease.delivery_id))
                answer = webhook_http.Answer(None, 0, NOT_SENT_OURS)
        self.slots.observe(destination, answer.latency_ms / 1000)
        ATTEMPT_SECONDS.observe(answer.latency_ms / 1000)
        if answer.error != NOT_SENT_OURS:
            self.guards.record(destination, webhook_rules.is_receiver_fault(answer.status))
        await self._settle(lease, row, answer, at)

    async def _ready(self, lease: Lease) -> tuple[Row, str] | None:
        """The delivery and its destination when it may be attempted now; otherwise None,
        and it is back on the schedule (or off it, when there is nothing to send)."""
        known = self.slots.destination_of(lease.delivery_id)
        if known is not None and self.slots.full(known):
            await self._busy(lease, known)
            return None
        row = await self.store.load(lease.delivery_id)
        if row is None or row["status"] != "pending" or row["webhook_status"] != "active":
            # Deleted, finished, or paused (resuming schedules its pending ones again).
            await self.queue.settle(lease, None)
            return None
        destination = webhook_rules.destination(row["url"])
        self.slots.remember(lease.delivery_id, destination)
        if not self.slots.full(destination):
            wait, reason = self.guards.wait(destination)
            if wait > 0:
                await self._defer(lease, row, reason, wait)
                return None
        # Checked again after the wait, with no pause before the slot is taken.
        if self.slots.full(destination):
            await self._busy(lease, destination)
            return None
        return row, destination

    async def _busy(self, lease: Lease, destination: str) -> None:
        """Back when a slot is likely free: the receiver is working, if slowly, so no
        horizon is applied while it waits."""
        DEFERRED.labels("busy").inc()
        wait = self.slots.wait(destination)
        await self.queue.settle(lease, int((time.time() + wait) * 1000))

    async def _defer(self, lease: Lease, row: Row, reason: str, seconds: float) -> None:
        """Back on the schedule without an attempt; dead if that is past its horizon (a
        receiver whose breaker stays open must not keep its deliveries forever)."""
        DEFERRED.labels(reason).inc()
        now = dt.datetime.now(dt.UTC)
        horizon = dt.timedelta(seconds=self.settings.webhook_horizon_seconds)
        if now + dt.timedelta(seconds=seconds) <= row["round_started_at"] + horizon:
            await self.queue.settle(lease, int((now.timestamp() + seconds) * 1000))
            return
        if await self.store.expire(lease.delivery_id, row["attempts"], now, NOT_SENT[reason]):
            DELIVERIES.labels("dead").inc()
        await self.queue.settle(lease, None)

    async def _post(self, row: Row, at: dt.datetime) -> webhook_http.Answer:
        body = json.dumps(row["payload"], separators=(",", ":")).encode()
        secret = self.cipher.decrypt(bytes(row["secret_enc"]))
        timestamp = int(at.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": row["event_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_rules.signature(secret, row["event_id"], timestamp, body),
        }
        timeout = self.settings.webhook_timeout_seconds
        return await webhook_http.request(
            self.http, "POST", row["url"], timeout, body=body, headers=headers
        )

    async def _settle(
        self, lease: Lease, row: Row, answer: webhook_http.Answer, at: dt.datetime
    ) -> None:
        result = outcome(row, answer, at, self.rules)
        if not await self.store.record(lease.delivery_id, row["attempts"], result):
            await self.queue.settle(lease, None)  # another sender got there first
            return
        if result.status == "pending":
            assert result.next_at is not None
            RETRIES.inc()
            await self.queue.settle(lease, int(result.next_at.timestamp() * 1000))
        else:
            DELIVERIES.labels(result.status).inc()
            await self.queue.settle(lease, None)
        log.info(
            "webhook_attempt",
            delivery_id=str(lease.delivery_id),
            status=result.status,
            code=answer.status,
            ms=answer.latency_ms,
            error=answer.error or None,
        )
