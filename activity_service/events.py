"""Publishes `workout.completed` on the Redis Stream. The event id is the workout id, so a
workout announced twice (after a crash) is recognised by consumers as one event."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from servicekit.events import WORKOUTS_STREAM, WorkoutCompleted

log = structlog.get_logger("events")


def completed_event(doc: dict[str, Any]) -> WorkoutCompleted:
    score = doc["score"]
    return WorkoutCompleted(
        event_id=doc["_id"],
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
    )


class EventPublisher:
    def __init__(self, redis: aioredis.Redis, max_length: int) -> None:
        self.redis = redis
        self.max_length = max_length

    async def publish_completed(self, doc: dict[str, Any]) -> bool:
        """True once the event is on the stream; False while Redis cannot take it."""
        fields: dict[Any, Any] = completed_event(doc).to_fields()
        try:
            await self.redis.xadd(WORKOUTS_STREAM, fields, maxlen=self.max_length, approximate=True)
        except RedisError as exc:
            log.warning("event_publish_failed", workout_id=doc["_id"], error=str(exc))
            return False
        return True
