"""The events between services, the one definition their producer (activity_service) and
consumers share. Stream entries are flat string maps.

- `workout.completed` on the Redis Stream `fitmesh.workouts`: one completed workout.
- `import.finished` on `fitmesh.workouts`: a workout import ended, done or failed. Consumers
  of `workout.completed` skip it; its workout, if any, has its own `workout.completed`.
- `workout.updated` and `workout.deleted` on the same stream: its owner changed or removed a
  completed workout. Each carries the workout's new version, and an updated one the whole
  new state, so a consumer applies the newest version it has seen and drops older ones,
  whatever order they arrive in (`workout.completed` is version 1, or the version stored
  when it went out late).
- `metric.day_total` on `fitmesh.health`: one user's total of one metric type on one UTC
  day, as stored when it was published. A state, not a delta: applying it twice or out of
  order changes nothing a max does not absorb. Its own stream, so the workout stream's
  consumers (the gateway's cache invalidator) never see metric traffic, and its length
  limit cannot trim workouts a slow consumer has not read yet.
- `goal.achieved` on `fitmesh.goals`: a goal alert the user service sent (its outbox), for
  consumers other than the live sockets (webhooks); its id is the alert's."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar

WORKOUTS_STREAM = "fitmesh.workouts"
WORKOUT_COMPLETED = "workout.completed"
IMPORT_FINISHED = "import.finished"
WORKOUT_UPDATED = "workout.updated"
WORKOUT_DELETED = "workout.deleted"
HEALTH_STREAM = "fitmesh.health"
METRIC_DAY_TOTAL = "metric.day_total"
# The metric types whose day totals are published (the daily goal types count them).
DAY_TOTAL_METRICS = ("steps", "sleep_minutes", "water_ml")
GOALS_STREAM = "fitmesh.goals"
GOAL_ACHIEVED = "goal.achieved"


def notify_channel(user_id: str) -> str:
    return f"fitmesh.notify.{user_id}"


class MalformedEvent(ValueError):
    pass


def _value(name: str, kind: str, text: str) -> object:
    """A field's value from its text, by the dataclass field's type."""
    if kind == "dt.datetime":
        try:
            at = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise MalformedEvent(f"{name} is not a timestamp") from exc
        if at.tzinfo is None:
            raise MalformedEvent(f"{name} has no time zone")
        return at
    if kind == "dt.date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise MalformedEvent(f"{name} is not a date as YYYY-MM-DD") from exc
    if kind == "int":
        try:
            whole = int(text)
        except ValueError as exc:
            raise MalformedEvent(f"{name} is not a whole number") from exc
        if whole < 1:
            raise MalformedEvent(f"{name} must be at least 1")
        return whole
    if kind == "float":
        try:
            number = float(text)
        except ValueError as exc:
            raise MalformedEvent(f"{name} is not a number") from exc
        if not math.isfinite(number) or number < 0:
            raise MalformedEvent(f"{name} must be a finite number >= 0")
        return number
    if not text:
        raise MalformedEvent(f"{name} is empty")
    return text


def _decode(cls: Any, event_type: str, raw: dict[str, str]) -> dict[str, object]:
    if raw.get("type") != event_type:
        raise MalformedEvent(f"not a {event_type} event: {raw.get('type')!r}")
    values: dict[str, object] = {}
    for f in fields(cls):
        if f.name not in raw and f.default is not MISSING:
            continue  # a field added since the event was written: its default
        if f.name not in raw:
            raise MalformedEvent(f"missing {f.name}")
        values[f.name] = _value(f.name, str(f.type), raw[f.name])
    return values


@dataclass(frozen=True)
class WorkoutCompleted:
    """A completed workout as its version `version` stands."""

    TYPE: ClassVar[str] = WORKOUT_COMPLETED
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
    version: int = 1

    def to_fields(self) -> dict[str, str]:
        values = asdict(self)
        values["ended_at"] = self.ended_at.astimezone(dt.UTC).isoformat()
        return {"type": self.TYPE, **{k: str(v) for k, v in values.items()}}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> WorkoutCompleted:
        return cls(**_decode(cls, cls.TYPE, raw))  # type: ignore[arg-type]


@dataclass(frozen=True)
class WorkoutUpdated(WorkoutCompleted):
    """A completed workout its owner changed: its whole new state, at its new version."""

    TYPE: ClassVar[str] = WORKOUT_UPDATED


@dataclass(frozen=True)
class WorkoutDeleted:
    """A completed workout its owner deleted; `version` is the one the deletion made."""

    TYPE: ClassVar[str] = WORKOUT_DELETED
    event_id: str
    user_id: str
    workout_id: str
    version: int
    deleted_at: dt.datetime

    def to_fields(self) -> dict[str, str]:
        values = asdict(self)
        values["deleted_at"] = self.deleted_at.astimezone(dt.UTC).isoformat()
        return {"type": self.TYPE, **{k: str(v) for k, v in values.items()}}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> WorkoutDeleted:
        return cls(**_decode(cls, cls.TYPE, raw))  # type: ignore[arg-type]


WorkoutEvent = WorkoutCompleted | WorkoutDeleted
_WORKOUT_EVENTS: dict[str, type[WorkoutCompleted] | type[WorkoutDeleted]] = {
    WORKOUT_COMPLETED: WorkoutCompleted,
    WORKOUT_UPDATED: WorkoutUpdated,
    WORKOUT_DELETED: WorkoutDeleted,
}


def decode_workout_event(raw: dict[str, str]) -> WorkoutEvent:
    """The event of an entry of the workout stream, by its type."""
    kind = _WORKOUT_EVENTS.get(raw.get("type", ""))
    if kind is None:
        raise MalformedEvent(f"not a workout event: {raw.get('type')!r}")
    return kind.from_fields(raw)


def revision_event_id(workout_id: str, version: int) -> str:
    """The id of the event of a workout's change to `version`: the same however often it
    is announced."""
    return f"{workout_id}@{version}"


@dataclass(frozen=True)
class MetricDayTotal:
    event_id: str
    user_id: str
    metric_type: str
    day: dt.date
    total: float

    @classmethod
    def of(cls, user_id: str, metric_type: str, day: dt.date, total: float) -> MetricDayTotal:
        """The event, with an id that is the same whenever the same total is announced
        (a retried write): consumers can tell a repeat from news by it."""
        key = json.dumps([user_id, metric_type, day.isoformat(), repr(float(total))])
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:{METRIC_DAY_TOTAL}:{key}"))
        return cls(event_id, user_id, metric_type, day, float(total))

    def to_fields(self) -> dict[str, str]:
        values = asdict(self)
        values["day"] = self.day.isoformat()
        values["total"] = repr(self.total)
        return {"type": METRIC_DAY_TOTAL, **{k: str(v) for k, v in values.items()}}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> MetricDayTotal:
        values = _decode(cls, METRIC_DAY_TOTAL, raw)
        if values["metric_type"] not in DAY_TOTAL_METRICS:
            raise MalformedEvent(f"metric_type must be one of {', '.join(DAY_TOTAL_METRICS)}")
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ImportFinished:
    """An import that ended. `workout_id` is empty when it failed, `error` when it is done.
    The event id follows from the import and the moment it finished, so publishing the same
    end again (after a crash) repeats the id, and a later retry of the file has another.
    `callback_id` names the one-off webhook the upload asked the result to go to (empty for
    none; entries written before it existed have none)."""

    event_id: str
    user_id: str
    import_id: str
    status: str  # "done" or "failed"
    workout_id: str
    error: str
    finished_at: dt.datetime
    callback_id: str = ""

    @classmethod
    def of(
        cls,
        user_id: str,
        import_id: str,
        status: str,
        workout_id: str,
        error: str,
        finished_at: dt.datetime,
        callback_id: str = "",
    ) -> ImportFinished:
        key = f"{import_id}:{finished_at.astimezone(dt.UTC).isoformat()}"
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:{IMPORT_FINISHED}:{key}"))
        return cls(
            event_id, user_id, import_id, status, workout_id, error, finished_at, callback_id
        )

    def to_fields(self) -> dict[str, str]:
        values = asdict(self)
        values["finished_at"] = self.finished_at.astimezone(dt.UTC).isoformat()
        return {"type": IMPORT_FINISHED, **{k: str(v) for k, v in values.items()}}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> ImportFinished:
        if raw.get("type") != IMPORT_FINISHED:
            raise MalformedEvent(f"not a {IMPORT_FINISHED} event: {raw.get('type')!r}")
        raw = {"callback_id": "", **raw}
        missing = [f.name for f in fields(cls) if f.name not in raw]
        if missing:
            raise MalformedEvent(f"missing {missing[0]}")
        if raw["status"] not in ("done", "failed"):
            raise MalformedEvent("status must be done or failed")
        finished_at = _value("finished_at", "dt.datetime", raw["finished_at"])
        texts = {f.name: raw[f.name] for f in fields(cls) if f.name != "finished_at"}
        return cls(**texts, finished_at=finished_at)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GoalAchieved:
    event_id: str  # the alert's notification id: a repeat of the alert is the same event
    user_id: str
    goal: str  # the goal as JSON, as the alert carries it

    def to_fields(self) -> dict[str, str]:
        return {"type": GOAL_ACHIEVED, **asdict(self)}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> GoalAchieved:
        event = cls(**_decode(cls, GOAL_ACHIEVED, raw))  # type: ignore[arg-type]
        try:
            goal = json.loads(event.goal)
        except ValueError as exc:
            raise MalformedEvent("goal is not JSON") from exc
        if not isinstance(goal, dict):
            raise MalformedEvent("goal is not a JSON object")
        return event
