"""Publishes `workout.completed`, `workout.updated`, `workout.deleted`, `import.finished`
and `metric.day_total` on their Redis Streams. A workout's event id is the workout id, and a
change's the workout id and the version it made, so a workout or a change announced twice
(after a crash) is recognised by consumers as one event; an import's follows from the
import and when it finished; a day total's follows from the total, and a repeat of it
changes nothing anyway (it is a state, not a delta)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from servicekit.errors import Unavailable
from servicekit.events import (
    HEALTH_STREAM,
    WORKOUTS_STREAM,
    ImportFinished,
    MetricDayTotal,
    WorkoutCompleted,
    WorkoutDeleted,
    WorkoutUpdated,
    revision_event_id,
)

log = structlog.get_logger("events")


def completed_event(
    doc: Mapping[str, Any], kind: type[WorkoutCompleted] = WorkoutCompleted
) -> WorkoutCompleted:
    """The workout as it stands: completed (event id = workout id) or, for a change, updated
    (event id = workout id and version)."""
    score = doc["score"]
    version = int(doc.get("version") or 1)
    changed = kind is not WorkoutCompleted
    return kind(
        event_id=revision_event_id(doc["_id"], version) if changed else doc["_id"],
        user_id=doc["user_id"],
        workout_id=doc["_id"],
        workout_type=doc["workout_type"],
        ended_at=doc["end_time"],
        duration=doc["duration_seconds"],
        calories_burned=score["calories_burned"],
        moderate_minutes=score["moderate_minutes"],
        vigorous_minutes=score["vigorous_minutes"],
        intensity_minutes=score["intensity_minutes"],
        distance_m=doc.get("distance_m") or 0.0,
        version=version,
    )


def revision_event(doc: Mapping[str, Any]) -> WorkoutCompleted | WorkoutDeleted:
    """The event of a change: the new version, or the tombstone a deletion left."""
    if doc["status"] != "deleted":
        return completed_event(doc, WorkoutUpdated)
    return WorkoutDeleted(
        event_id=revision_event_id(doc["_id"], doc["version"]),
        user_id=doc["user_id"],
        workout_id=doc["_id"],
        version=doc["version"],
        deleted_at=doc["deleted_at"],
    )


class EventPublisher:
    def __init__(self, redis: aioredis.Redis, max_length: int) -> None:
        self.redis = redis
        self.max_length = max_length

    async def publish_completed(self, doc: dict[str, Any]) -> bool:
        """True once the event is on the stream; False while Redis cannot take it."""
        return await self._publish(completed_event(doc))

    async def publish_revision(self, doc: Mapping[str, Any]) -> bool:
        """`workout.updated` for a changed workout, `workout.deleted` for a tombstone; True
        once it is on the stream, False while Redis cannot take it."""
        return await self._publish(revision_event(doc))

    async def _publish(self, event: WorkoutCompleted | WorkoutDeleted) -> bool:
        fields: dict[Any, Any] = event.to_fields()
        try:
            await self.redis.xadd(WORKOUTS_STREAM, fields, maxlen=self.max_length, approximate=True)
        except RedisError as exc:
            log.warning("event_publish_failed", event_id=event.event_id, error=str(exc))
            return False
        return True

    async def publish_import_finished(self, event: ImportFinished) -> bool:
        """True once the event is on the stream; False while Redis cannot take it."""
        fields: dict[Any, Any] = event.to_fields()
        try:
            await self.redis.xadd(WORKOUTS_STREAM, fields, maxlen=self.max_length, approximate=True)
        except RedisError as exc:
            log.warning("event_publish_failed", import_id=event.import_id, error=str(exc))
            return False
        return True

    async def publish_day_totals(
        self, user_id: str, totals: Mapping[tuple[str, str], float]
    ) -> None:
        """Every total on the stream, in one round trip, or Unavailable: the samples are
        stored already, and the client's retry (deduplicated by client_id) publishes
        them again."""
        if not totals:
            return
        pipe = self.redis.pipeline(transaction=False)
        for (kind, day), total in totals.items():
            event = MetricDayTotal.of(user_id, kind, dt.date.fromisoformat(day), total)
            fields: dict[Any, Any] = event.to_fields()
            pipe.xadd(HEALTH_STREAM, fields, maxlen=self.max_length, approximate=True)
        try:
            await pipe.execute()
        except RedisError as exc:
            log.warning("day_totals_publish_failed", user_id=user_id, error=str(exc))
            raise Unavailable("the event stream is unavailable; retry") from exc
