"""Goal progress from workout events (`workout.completed`, `.updated`, `.deleted` on stream
`fitmesh.workouts`) and `metric.day_total` (stream `fitmesh.health`) events, with
exactly-once effect.

One consumer group reads both streams in one XREADGROUP. A workout event is applied in
one database transaction that also records the version of the workout it carries, so a
re-delivered or an older event changes nothing (user_service.workout_goals). A day total
needs no record: it is a state, applied as a max, so a repeat or a late one changes nothing
either. Either way the goals are read FOR UPDATE, so a goal turns achieved (or stops being
so) once per change, and its alert row is unique per goal, kind and round. The stream
entry is acknowledged only after the commit; entries a crashed consumer left pending are
claimed after an idle timeout, and poison ones kept as dead letters
(servicekit.consumer). Goal alerts go through an outbox: the notification row is written in
the same transaction and published to Redis afterwards, then marked published. Moved goals
forget the gateway's cached goals; when that cannot reach Redis, the next step moves the
cache to a new generation before anything else (servicekit.cachekeys)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.cachekeys import Generations, goals_key
from servicekit.consumer import StreamConsumer, consumer_name
from servicekit.events import (
    GOALS_STREAM,
    HEALTH_STREAM,
    IMPORT_FINISHED,
    WORKOUTS_STREAM,
    GoalAchieved,
    MalformedEvent,
    MetricDayTotal,
    WorkoutEvent,
    decode_workout_event,
    notify_channel,
)
from user_service import rules
from user_service import store as db
from user_service.settings import UserSettings
from user_service.views import goal_json
from user_service.workout_goals import WorkoutGoals

log = structlog.get_logger("events")
STREAMS = (WORKOUTS_STREAM, HEALTH_STREAM)
BATCH = 32
DAILY_GOAL_TYPE = {metric: goal for goal, metric in rules.DAILY_GOAL_METRICS.items()}
GOALS_STREAM_LENGTH = 100_000  # alerts are rare next to workouts


class GoalProgressConsumer(StreamConsumer):
    def __init__(
        self,
        store: db.Store,
        redis: aioredis.Redis,
        scoring: scoring_pb2_grpc.ScoringServiceStub,
        settings: UserSettings,
    ) -> None:
        super().__init__(
            redis,
            STREAMS,
            settings.consumer_group,
            consumer_name(settings.consumer_name),
            settings.consumer_claim_idle_ms,
            settings.consumer_block_ms,
            BATCH,
        )
        self.store, self.scoring, self.settings = store, scoring, settings
        self.workout_goals = WorkoutGoals(store, scoring, settings.scoring_deadline_seconds)
        self.cache = Generations(redis)
        self.owes_generation = False

    async def step(self) -> None:
        if self.owes_generation:
            await self.cache.bump()
            self.owes_generation = False
            log.info("cache_generation_moved")
        for stream, entry_id, fields in await self.entries():
            await self.handle(stream, entry_id, fields)
        await self.publish_outbox()

    async def handle(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        if fields.get("type") == IMPORT_FINISHED:
            # News for clients of imports; the workout it made has its own event.
            await self.redis.xack(stream, self.settings.consumer_group, entry_id)
            return
        try:
            event = _decode(stream, fields)
            user_id = uuid.UUID(event.user_id)
        except (MalformedEvent, ValueError) as exc:
            await self.dead_letter(stream, entry_id, fields, str(exc))
            return
        with structlog.contextvars.bound_contextvars(event_id=event.event_id):
            if isinstance(event, MetricDayTotal):
                applied = await self.apply_day_total(event, user_id)
            else:
                applied = await self.workout_goals.apply(event, user_id)
            if applied:
                # Its version moves on too: a gateway read that loaded the goals before
                # this stores nothing after it (servicekit.cachekeys).
                await self._forget_goals(event.user_id)
            await self.redis.xack(stream, self.settings.consumer_group, entry_id)
            log.info("event_processed", entry_id=entry_id, duplicate=not applied)

    async def _forget_goals(self, user_id: str) -> None:
        try:
            await self.cache.forget(goals_key(user_id))
        except (RedisError, OSError):
            # The event is applied, so a redelivery would not forget again: the debt does.
            log.warning("goals_cache_invalidation_failed", user_id=user_id)
            self.owes_generation = True

    async def apply_day_total(self, event: MetricDayTotal, user_id: uuid.UUID) -> bool:
        """The day's total on the user's active daily goals of its type; True when one
        moved. A goal already achieved is no longer active, so it is not achieved again."""
        goal_type = DAILY_GOAL_TYPE[event.metric_type]
        moved = False
        async with self.store.transaction() as conn:
            for row in await db.active_goals_for_update(conn, user_id, (goal_type,)):
                after = rules.daily_progress(_daily_goal(row), event.day, event.total)
                if after is None:
                    continue  # a day outside the goal's days
                if after.current_progress == row["current_progress"] and not after.achieved:
                    continue  # a total seen before, or a lower one: nothing to write
                status = "achieved" if after.achieved else "active"
                updated = await db.save_progress(
                    conn, row["goal_id"], after.current_progress, status, dt.datetime.now(dt.UTC)
                )
                if after.achieved:
                    await db.add_notification(conn, user_id, row["goal_id"], goal_json(updated))
                moved = True
        return moved

    async def publish_outbox(self) -> None:
        """Each alert to the user's sockets (pub/sub) and, a goal achieved, to the goals
        stream (webhooks), in one round trip. A repeat after a failure repeats both: the
        stream entry keeps its id (the alert's), so its consumers see one event."""
        for row in await self.store.unpublished():
            notification_id, user_id = str(row["notification_id"]), str(row["user_id"])
            message = {
                "event": row["kind"],
                "data": {**row["payload"], "notification_id": notification_id},
            }
            pipe = self.redis.pipeline(transaction=False)
            if row["kind"] == "goal_achieved":
                achieved = GoalAchieved(notification_id, user_id, json.dumps(row["payload"]))
                fields: dict[Any, Any] = achieved.to_fields()
                pipe.xadd(GOALS_STREAM, fields, maxlen=GOALS_STREAM_LENGTH, approximate=True)
            pipe.publish(notify_channel(user_id), json.dumps(message))
            try:
                await pipe.execute()
            except RedisError:
                log.warning("notify_publish_failed", notification_id=notification_id)
                return
            await self.store.mark_published(row["notification_id"])


def _decode(stream: str, fields: dict[str, str]) -> WorkoutEvent | MetricDayTotal:
    if stream == HEALTH_STREAM:
        return MetricDayTotal.from_fields(fields)
    return decode_workout_event(fields)


def _daily_goal(row: dict[str, Any]) -> rules.DailyGoal:
    return rules.DailyGoal(
        target_value=row["target_value"],
        current_progress=row["current_progress"],
        first_day=row["created_at"].astimezone(dt.UTC).date(),
        target_date=row["target_date"],
    )
