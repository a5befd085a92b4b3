"""Goal progress from `workout.completed` events, with exactly-once effect.

Each event is applied in one database transaction that also records its event id, so a
re-delivered event changes nothing. The stream entry is acknowledged only after that
commit; entries a crashed consumer left pending are claimed after an idle timeout.
Goal alerts go through an outbox: the notification row is written in the same
transaction and published to Redis afterwards, then marked published."""

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
from servicekit.cachekeys import goals_key
from servicekit.events import WORKOUTS_STREAM, MalformedEvent, WorkoutCompleted, notify_channel
from servicekit.protoenum import enum_name, enum_number
from user_service import store as db
from user_service.settings import UserSettings
from user_service.views import goal_json

log = structlog.get_logger("events")
DEAD_LETTERS = f"{WORKOUTS_STREAM}.dead"
BATCH = 32


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
                await asyncio.sleep(1)

    async def _create_group(self) -> None:
        try:
            # From the start of the stream: events written before the group existed count too.
            await self.redis.xgroup_create(
                WORKOUTS_STREAM, self.settings.consumer_group, "0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def step(self) -> None:
        group = self.settings.consumer_group
        _, entries, *_ = await self.redis.xautoclaim(
            WORKOUTS_STREAM,
            group,
            self.consumer,
            min_idle_time=self.settings.consumer_claim_idle_ms,
            start_id="0-0",
            count=BATCH,
        )
        if not entries:
            reply: Any = await self.redis.xreadgroup(
                group,
                self.consumer,
                {WORKOUTS_STREAM: ">"},
                count=BATCH,
                block=self.settings.consumer_block_ms,
            )
            entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            await self.handle(entry_id, fields)
        await self.publish_outbox()

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            event = WorkoutCompleted.from_fields(fields)
            user_id = uuid.UUID(event.user_id)
        except (MalformedEvent, ValueError) as exc:
            # A poison entry would otherwise be retried forever; keep it for a human.
            log.warning("event_malformed", entry_id=entry_id, error=str(exc))
            dead: dict[Any, Any] = {**fields, "error": str(exc)}
            await self.redis.xadd(DEAD_LETTERS, dead, maxlen=10_000)
            await self.redis.xack(WORKOUTS_STREAM, self.settings.consumer_group, entry_id)
            return
        with structlog.contextvars.bound_contextvars(event_id=event.event_id):
            applied = await self.apply(event, user_id)
            if applied:
                await self._forget_cached_goals(event.user_id)
            await self.redis.xack(WORKOUTS_STREAM, self.settings.consumer_group, entry_id)
            log.info("event_processed", entry_id=entry_id, duplicate=not applied)

    async def _forget_cached_goals(self, user_id: str) -> None:
        try:
            await self.redis.delete(goals_key(user_id))
        except RedisError:  # the key's TTL bounds how long a reader can see old progress
            log.warning("goals_cache_invalidation_failed", user_id=user_id)

    async def apply(self, event: WorkoutCompleted, user_id: uuid.UUID) -> bool:
        async with self.store.transaction() as conn:
            if not await db.record_event(conn, event.event_id):
                return False
            goals = await db.active_goals_for_update(conn, user_id)
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
