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
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog

from servicekit.consumer import StreamConsumer, consumer_name
from servicekit.events import (
    GOALS_STREAM,
    HEALTH_STREAM,
    IMPORT_FINISHED,
    WORKOUTS_STREAM,
    GoalAchieved,
    ImportFinished,
    MalformedEvent,
    MetricDayTotal,
    decode_workout_event,
)
from user_service import webhook_rules
from user_service.settings import UserSettings
from user_service.webhook_queue import Queue
from user_service.webhook_store import WebhookStore

log = structlog.get_logger("webhooks")
STREAMS = (WORKOUTS_STREAM, HEALTH_STREAM, GOALS_STREAM)
BATCH = 32


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    user_id: uuid.UUID
    payload: dict[str, Any]  # what is POSTed: {"type", "timestamp", "data"}
    callback_id: uuid.UUID | None = None  # the one-off webhook it is for too, if any


def entry_time(entry_id: str) -> dt.datetime:
    """When an entry was added to its stream: the first part of its id, in ms."""
    return dt.datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, dt.UTC)


def _data(event: Any) -> dict[str, Any]:
    """An event's fields but its id (the webhook-id header carries it), times as RFC 3339."""
    return {
        k: v.astimezone(dt.UTC).isoformat() if isinstance(v, dt.datetime) else v
        for k, v in asdict(event).items()
        if k != "event_id"
    }


def _content(stream: str, fields: dict[str, str]) -> tuple[str, str, str, dict[str, Any]]:
    """The webhook event type, event id, user id and data of a stream entry (a callback's id
    is routing, not data: see webhook_event)."""
    if stream == HEALTH_STREAM:
        total = MetricDayTotal.from_fields(fields)
        data = _data(total) | {"day": total.day.isoformat()}
        return webhook_rules.METRIC_RECORDED, total.event_id, total.user_id, data
    if stream == GOALS_STREAM:
        achieved = GoalAchieved.from_fields(fields)
        goal = json.loads(achieved.goal)
        return webhook_rules.GOAL_ACHIEVED, achieved.event_id, achieved.user_id, goal
    if fields.get("type") == IMPORT_FINISHED:
        done = ImportFinished.from_fields(fields)
        data = {k: v for k, v in _data(done).items() if k != "callback_id"}
        return webhook_rules.IMPORT_FINISHED, done.event_id, done.user_id, data
    # workout.completed, workout.updated (the whole new state) and workout.deleted, each
    # with the workout's version: a receiver keeps the newest it has seen.
    workout = decode_workout_event(fields)
    return workout.TYPE, workout.event_id, workout.user_id, _data(workout)


def webhook_event(stream: str, entry_id: str, fields: dict[str, str]) -> WebhookEvent:
    """A stream entry as the webhook event it is; MalformedEvent when it is none."""
    event_type, event_id, user, data = _content(stream, fields)
    try:
        user_id = uuid.UUID(user)
    except ValueError as exc:
        raise MalformedEvent("user_id is not an id") from exc
    payload = {"type": event_type, "timestamp": entry_time(entry_id).isoformat(), "data": data}
    return WebhookEvent(event_id, event_type, user_id, payload, _callback(fields))


def _callback(fields: dict[str, str]) -> uuid.UUID | None:
    """The one-off webhook an entry names (an import's callback_url), if any. One that is no
    id is ignored: the event still goes to the user's subscriptions."""
    named = fields.get("callback_id", "")
    try:
        return uuid.UUID(named) if named else None
    except ValueError:
        log.warning("webhook_callback_malformed", callback_id=named[:64])
        return None


class Dispatcher(StreamConsumer):
    def __init__(
        self, store: WebhookStore, queue: Queue, redis: aioredis.Redis, settings: UserSettings
    ) -> None:
        super().__init__(
            redis,
            STREAMS,
            settings.webhook_consumer_group,
            consumer_name(settings.consumer_name),
            settings.consumer_claim_idle_ms,
            settings.consumer_block_ms,
            BATCH,
        )
        self.store, self.queue = store, queue

    async def step(self) -> None:
        # A batch's events side by side: one user's burst of events must not hold up the
        # next user's (the database pool bounds how many run at once).
        batch = await self.entries()
        done = await asyncio.gather(*(self.handle(*e) for e in batch), return_exceptions=True)
        for entry, result in zip(batch, done, strict=True):
            if isinstance(result, Exception):  # it stays pending and is claimed again
                log.error("dispatch_failed", entry_id=entry[1], error=repr(result))

    async def handle(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        try:
            event = webhook_event(stream, entry_id, fields)
        except (MalformedEvent, ValueError) as exc:
            if stream == GOALS_STREAM:  # no other consumer reads it: keep it for a human
                await self.dead_letter(stream, entry_id, fields, str(exc))
                return
            # The goal consumer keeps the workout and health streams' poison entries.
            log.warning("webhook_event_malformed", stream=stream, entry_id=entry_id, error=str(exc))
            await self.redis.xack(stream, self.group, entry_id)
            return
        ids = await self.store.add_deliveries(
            event.user_id, event.event_id, event.event_type, event.payload, event.callback_id
        )
        await self.queue.schedule(ids)
        await self.redis.xack(stream, self.group, entry_id)
        if ids:
            log.info("webhook_event_dispatched", event_id=event.event_id, deliveries=len(ids))
