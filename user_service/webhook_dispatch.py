"""The dispatcher: fitmesh's events, read from their streams by a consumer group of its own
(`webhooks`), become deliveries of the subscriptions that want them.

For each event, the deliveries of the user's active subscriptions to its type are written
(their ids follow from the event and the subscription, so an event read twice makes none
twice), put on the schedule, and only then is the entry acknowledged. A replica that dies
before that leaves the entry pending; another claims it and finishes the job, scheduling
what the first wrote but never scheduled. Every replica runs one, in the same group."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog

from servicekit.background import Background
from servicekit.events import (
    GOALS_STREAM,
    HEALTH_STREAM,
    WORKOUTS_STREAM,
    GoalAchieved,
    MalformedEvent,
    MetricDayTotal,
    WorkoutCompleted,
)
from user_service import webhook_rules
from user_service.settings import UserSettings
from user_service.streams import GroupReader
from user_service.webhook_queue import Queue
from user_service.webhook_store import WebhookStore

log = structlog.get_logger("webhooks")
STREAMS = (WORKOUTS_STREAM, HEALTH_STREAM, GOALS_STREAM)


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    user_id: uuid.UUID
    payload: dict[str, Any]  # what is POSTed: {"type", "timestamp", "data"}


def entry_time(entry_id: str) -> dt.datetime:
    """When an entry was added to its stream: the first part of its id, in ms."""
    return dt.datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, dt.UTC)


def _content(stream: str, fields: dict[str, str]) -> tuple[str, str, str, dict[str, Any]]:
    """The webhook event type, event id, user id and data of a stream entry."""
    if stream == WORKOUTS_STREAM:
        workout = WorkoutCompleted.from_fields(fields)
        data = {k: v for k, v in asdict(workout).items() if k != "event_id"}
        data["ended_at"] = workout.ended_at.astimezone(dt.UTC).isoformat()
        return webhook_rules.WORKOUT_COMPLETED, workout.event_id, workout.user_id, data
    if stream == HEALTH_STREAM:
        total = MetricDayTotal.from_fields(fields)
        data = {
            "user_id": total.user_id,
            "metric_type": total.metric_type,
            "day": total.day.isoformat(),
            "total": total.total,
        }
        return webhook_rules.METRIC_RECORDED, total.event_id, total.user_id, data
    achieved = GoalAchieved.from_fields(fields)
    return (
        webhook_rules.GOAL_ACHIEVED,
        achieved.event_id,
        achieved.user_id,
        json.loads(achieved.goal),
    )


def webhook_event(stream: str, entry_id: str, fields: dict[str, str]) -> WebhookEvent:
    """A stream entry as the webhook event it is; MalformedEvent when it is none."""
    event_type, event_id, user, data = _content(stream, fields)
    try:
        user_id = uuid.UUID(user)
    except ValueError as exc:
        raise MalformedEvent("user_id is not an id") from exc
    payload = {"type": event_type, "timestamp": entry_time(entry_id).isoformat(), "data": data}
    return WebhookEvent(event_id, event_type, user_id, payload)


class Dispatcher:
    def __init__(
        self, store: WebhookStore, queue: Queue, redis: aioredis.Redis, settings: UserSettings
    ) -> None:
        self.store, self.queue = store, queue
        consumer = settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
        self.reader = GroupReader(
            redis,
            STREAMS,
            settings.webhook_consumer_group,
            consumer,
            settings.consumer_claim_idle_ms,
            settings.consumer_block_ms,
        )
        self._loop = Background(self._run)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self.reader.create_group()
                    group_ready = True
                # A batch's events side by side: one user's burst of events must not hold
                # up the next user's (the database pool bounds how many run at once).
                batch = await self.reader.next_batch()
                done = await asyncio.gather(
                    *(self.handle(*e) for e in batch), return_exceptions=True
                )
                for entry, result in zip(batch, done, strict=True):
                    if isinstance(result, Exception):  # it stays pending and is claimed again
                        log.error("dispatch_failed", entry_id=entry[1], error=repr(result))
            except asyncio.CancelledError:
                raise
            except Exception:  # the entry stays pending and is claimed again
                log.exception("dispatch_step_failed")
                await asyncio.sleep(1)

    async def handle(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        try:
            event = webhook_event(stream, entry_id, fields)
        except (MalformedEvent, ValueError) as exc:
            # The goal consumer keeps such entries for a human (events.dead_letters).
            log.warning("webhook_event_malformed", stream=stream, entry_id=entry_id, error=str(exc))
            await self.reader.ack(stream, entry_id)
            return
        ids = await self.store.add_deliveries(
            event.user_id, event.event_id, event.event_type, event.payload
        )
        await self.queue.schedule(ids)
        await self.reader.ack(stream, entry_id)
        if ids:
            log.info("webhook_event_dispatched", event_id=event.event_id, deliveries=len(ids))
