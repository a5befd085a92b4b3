"""Goal progress from `workout.completed` (stream `fitmesh.workouts`) and
`metric.day_total` (stream `fitmesh.health`) events, with exactly-once effect.

One consumer group reads both streams in one XREADGROUP. A workout event is applied in
one database transaction that also records its event id, so a re-delivered event changes
nothing. A day total needs no record: it is a state, applied as a max, so a repeat or a
late one changes nothing either. Either way the goals are read FOR UPDATE and only while
active, so a goal turns achieved once, and its alert row is unique per goal. The stream
entry is acknowledged only after the commit; entries a crashed consumer left pending are
claimed after an idle timeout. Goal alerts go through an outbox: the notification row is
written in the same transaction and published to Redis afterwards, then marked published.
Moved goals forget the gateway's cached goals; when that cannot reach Redis, the next step
moves the cache to a new generation before anything else (servicekit.cachekeys)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import uuid
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.background import Background
from servicekit.cachekeys import Generations, goals_key
from servicekit.events import (
    HEALTH_STREAM,
    WORKOUTS_STREAM,
    MalformedEvent,
    MetricDayTotal,
    WorkoutCompleted,
    notify_channel,
)
from servicekit.protoenum import enum_name, enum_number
from user_service import rules
from user_service import store as db
from user_service.settings import UserSettings
from user_service.views import goal_json

log = structlog.get_logger("events")
STREAMS = (WORKOUTS_STREAM, HEALTH_STREAM)
BATCH = 32
Entry = tuple[str, str, dict[str, str]]  # stream, entry id, fields
DAILY_GOAL_TYPE = {metric: goal for goal, metric in rules.DAILY_GOAL_METRICS.items()}


def dead_letters(stream: str) -> str:
    return f"{stream}.dead"


class GoalProgressConsumer:
    def __init__(
        self,
        store: db.Store,
        redis: aioredis.Redis,
        scoring: scoring_pb2_grpc.ScoringServiceStub,
        settings: UserSettings,
    ) -> None:
        self.store, self.redis, self.scoring, self.settings = store, redis, scoring, settings
        self.consumer = settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"
        self.cache = Generations(redis)
        self.owes_generation = False
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
                    await self._create_group()
                    group_ready = True
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep consuming whatever one batch did; the entry stays pending
                log.exception("consumer_step_failed")
                # A Redis that restarted without its data has lost the group too (every
                # read is NOGROUP): make sure of it again before the next step.
                group_ready = False
                await asyncio.sleep(1)

    async def _create_group(self) -> None:
        for stream in STREAMS:
            try:
                # From the start: events written before the group existed count too.
                await self.redis.xgroup_create(
                    stream, self.settings.consumer_group, "0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def step(self) -> None:
        if self.owes_generation:
            await self.cache.bump()
            self.owes_generation = False
            log.info("cache_generation_moved")
        entries = await self._claimed() or await self._read_new()
        for stream, entry_id, fields in entries:
            await self.handle(stream, entry_id, fields)
        await self.publish_outbox()

    async def _claimed(self) -> list[Entry]:
        """Entries a consumer left pending too long, of every stream, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for stream in STREAMS:
            pipe.xautoclaim(
                stream,
                self.settings.consumer_group,
                self.consumer,
                min_idle_time=self.settings.consumer_claim_idle_ms,
                start_id="0-0",
                count=BATCH,
            )
        replies = await pipe.execute()
        return [(s, i, f) for s, (_, e, *_) in zip(STREAMS, replies, strict=True) for i, f in e]

    async def _read_new(self) -> list[Entry]:
        reply: Any = await self.redis.xreadgroup(
            self.settings.consumer_group,
            self.consumer,
            dict.fromkeys(STREAMS, ">"),
            count=BATCH,
            block=self.settings.consumer_block_ms,
        )
        return [(stream, i, f) for stream, entries in reply or [] for i, f in entries]

    async def handle(self, stream: str, entry_id: str, fields: dict[str, str]) -> None:
        try:
            event = _decode(stream, fields)
            user_id = uuid.UUID(event.user_id)
        except (MalformedEvent, ValueError) as exc:
            # A poison entry would otherwise be retried forever; keep it for a human.
            log.warning("event_malformed", stream=stream, entry_id=entry_id, error=str(exc))
            dead: dict[Any, Any] = {**fields, "error": str(exc)}
            await self.redis.xadd(dead_letters(stream), dead, maxlen=10_000)
            await self.redis.xack(stream, self.settings.consumer_group, entry_id)
            return
        with structlog.contextvars.bound_contextvars(event_id=event.event_id):
            if isinstance(event, WorkoutCompleted):
                applied = await self.apply(event, user_id)
            else:
                applied = await self.apply_day_total(event, user_id)
            if applied:
                await self._forget_cached_goals(event.user_id)
            await self.redis.xack(stream, self.settings.consumer_group, entry_id)
            log.info("event_processed", entry_id=entry_id, duplicate=not applied)

    async def _forget_cached_goals(self, user_id: str) -> None:
        try:
            await self.cache.forget(goals_key(user_id))
        except (RedisError, OSError):
            # The event is applied, so a redelivery would not forget again: the debt does.
            log.warning("goals_cache_invalidation_failed", user_id=user_id)
            self.owes_generation = True

    async def apply(self, event: WorkoutCompleted, user_id: uuid.UUID) -> bool:
        async with self.store.transaction() as conn:
            if not await db.record_event(conn, event.event_id):
                return False
            goals = await db.active_goals_for_update(conn, user_id, rules.WORKOUT_GOAL_TYPES)
            if not goals:
                return True
            reply = await self.scoring.EvaluateGoals(
                _evaluation_request(goals, event), timeout=self.settings.scoring_deadline_seconds
            )
            for row, progress in zip(goals, reply.goals, strict=True):
                status = enum_name(spb.GoalStatus, progress.status) or "active"
                updated = await db.save_progress(
                    conn, row["goal_id"], progress.current_progress, status, event.ended_at
                )
                if progress.newly_achieved:
                    await db.add_notification(conn, user_id, row["goal_id"], goal_json(updated))
        return True

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
        for row in await self.store.unpublished():
            message = {
                "event": "goal_achieved",
                "data": {**row["payload"], "notification_id": str(row["notification_id"])},
            }
            try:
                await self.redis.publish(notify_channel(str(row["user_id"])), json.dumps(message))
            except RedisError:
                log.warning("notify_publish_failed", notification_id=str(row["notification_id"]))
                return
            await self.store.mark_published(row["notification_id"])


def _evaluation_request(goals: list[dict[str, Any]], event: WorkoutCompleted) -> Any:
    ended = spb.Contribution(
        duration_seconds=event.duration,
        calories_burned=event.calories_burned,
        intensity_minutes=event.intensity_minutes,
        distance_m=event.distance_m,
    )
    ended.ended_at.FromDatetime(event.ended_at.astimezone(dt.UTC))
    return spb.EvaluateGoalsRequest(
        goals=[
            spb.Goal(
                goal_id=str(g["goal_id"]),
                goal_type=enum_number(spb.GoalType, g["goal_type"]) or 0,  # type: ignore[arg-type]
                target_value=g["target_value"],
                current_progress=g["current_progress"],
                target_date=g["target_date"].isoformat(),
                status=spb.GOAL_STATUS_ACTIVE,
            )
            for g in goals
        ],
        contribution=ended,
    )


def _decode(stream: str, fields: dict[str, str]) -> WorkoutCompleted | MetricDayTotal:
    if stream == HEALTH_STREAM:
        return MetricDayTotal.from_fields(fields)
    return WorkoutCompleted.from_fields(fields)


def _daily_goal(row: dict[str, Any]) -> rules.DailyGoal:
    return rules.DailyGoal(
        target_value=row["target_value"],
        current_progress=row["current_progress"],
        first_day=row["created_at"].astimezone(dt.UTC).date(),
        target_date=row["target_date"],
    )
