"""The `workout.completed` event on the Redis Stream `fitmesh.workouts`: the one definition
its producer (activity_service) and its consumers share. Stream entries are flat string maps."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, fields

WORKOUTS_STREAM = "fitmesh.workouts"
WORKOUT_COMPLETED = "workout.completed"


def notify_channel(user_id: str) -> str:
    return f"fitmesh.notify.{user_id}"


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class WorkoutCompleted:
    event_id: str
    user_id: str
    workout_id: str
    workout_type: str
    ended_at: dt.datetime
    duration: float
    calories_burned: float
    moderate_minutes: float
    vigorous_minutes: float
    intensity_minutes: float
    distance_m: float

    def to_fields(self) -> dict[str, str]:
        values = asdict(self)
        values["ended_at"] = self.ended_at.astimezone(dt.UTC).isoformat()
        return {"type": WORKOUT_COMPLETED, **{k: str(v) for k, v in values.items()}}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> WorkoutCompleted:
        if raw.get("type") != WORKOUT_COMPLETED:
            raise MalformedEvent(f"not a {WORKOUT_COMPLETED} event: {raw.get('type')!r}")
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in raw:
                raise MalformedEvent(f"missing {f.name}")
            text = raw[f.name]
            if f.name == "ended_at":
                try:
                    ended = dt.datetime.fromisoformat(text)
                except ValueError as exc:
                    raise MalformedEvent("ended_at is not a timestamp") from exc
                if ended.tzinfo is None:
                    raise MalformedEvent("ended_at has no time zone")
                values[f.name] = ended
            elif f.type == "float":
                try:
                    number = float(text)
                except ValueError as exc:
                    raise MalformedEvent(f"{f.name} is not a number") from exc
                if not math.isfinite(number) or number < 0:
                    raise MalformedEvent(f"{f.name} must be a finite number >= 0")
                values[f.name] = number
            elif not text:
                raise MalformedEvent(f"{f.name} is empty")
            else:
                values[f.name] = text
        return cls(**values)  # type: ignore[arg-type]
