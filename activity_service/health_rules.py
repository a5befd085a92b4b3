"""Validation of health samples and meals, and the ids that make a re-sync harmless.
Pure: no gRPC, no database. Field paths are the request's (`samples[3].value`), so a
caller can point at the field."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from servicekit.errors import Violations


@dataclass(frozen=True)
class Kind:
    """What the values of one metric type may be."""

    unit: str
    low: float
    high: float


# Keyed by the short names of fitmesh.health.v1.MetricType, in its order.
KINDS = {
    "steps": Kind("steps", 0, 100_000),
    "heart_rate_resting": Kind("bpm", 25, 200),
    "heart_rate": Kind("bpm", 25, 250),
    "sleep_minutes": Kind("min", 1, 1440),
    "weight_kg": Kind("kg", 20, 400),
    "water_ml": Kind("ml", 1, 10_000),
}
SLEEP = "sleep_minutes"
MAX_SAMPLES = 1000
MAX_CLIENT_ID = 128
MAX_NIGHT = dt.timedelta(hours=24)
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = dt.timedelta(minutes=5)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Minutes asleep are rounded by devices; this much over the time in bed is not an error.
SLEEP_ROUNDING = 1.0

MAX_MEAL_NAME = 64
MAX_ITEMS = 50
MAX_ITEM_NAME = 100


@dataclass(frozen=True)
class Sample:
    """One sample as asked to be stored; times are None when not given."""

    kind: str
    value: float
    unit: str
    recorded_at: dt.datetime | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    client_id: str

    @property
    def at(self) -> dt.datetime:
        """When it was measured; a night's is its end (valid samples have one)."""
        at = self.recorded_at or self.end_time
        assert at is not None, "a valid sample has a time"
        return at


def check_time(v: Violations, field: str, at: dt.datetime | None, now: dt.datetime) -> None:
    if at is not None and not EPOCH <= at <= now + CLOCK_SKEW:
        v.add(field, "must be after 1970 and at most 5 minutes in the future")


def check_sample(v: Violations, path: str, s: Sample, now: dt.datetime) -> None:
    """`s.kind` is a known type's name or "" (its error is the caller's to report)."""
    for name in ("recorded_at", "start_time", "end_time"):
        check_time(v, f"{path}.{name}", getattr(s, name), now)
    if len(s.client_id) > MAX_CLIENT_ID:
        v.add(f"{path}.client_id", f"at most {MAX_CLIENT_ID} characters")
    kind = KINDS.get(s.kind)
    if kind is None:
        return
    v.check_range(f"{path}.value", s.value, kind.low, kind.high)
    if s.unit and s.unit != kind.unit:
        v.add(f"{path}.unit", f'must be "{kind.unit}" for {s.kind} (units are not converted)')
    if s.kind == SLEEP:
        _check_night(v, path, s)
        return
    if s.recorded_at is None:
        v.add(f"{path}.recorded_at", "is required")
    for name in ("start_time", "end_time"):
        if getattr(s, name) is not None:
            v.add(f"{path}.{name}", "only sleep has a start and an end")


def _check_night(v: Violations, path: str, s: Sample) -> None:
    """start < end <= start + 24 h; minutes asleep at most the minutes in bed (a tracker's
    time asleep is its time in bed less the time awake); recorded_at is the end."""
    for name in ("start_time", "end_time"):
        if getattr(s, name) is None:
            v.add(f"{path}.{name}", "is required for sleep")
    if s.start_time is None or s.end_time is None:
        return
    if s.recorded_at is not None and s.recorded_at != s.end_time:
        v.add(f"{path}.recorded_at", "must be end_time for sleep, or unset")
    if s.end_time <= s.start_time:
        v.add(f"{path}.end_time", "must be after start_time")
    elif s.end_time - s.start_time > MAX_NIGHT:
        v.add(f"{path}.end_time", "at most 24 hours after start_time")
    elif s.value > (s.end_time - s.start_time).total_seconds() / 60 + SLEEP_ROUNDING:
        v.add(f"{path}.value", "must not exceed the minutes from start_time to end_time")


def check_client_ids(v: Violations, client_ids: list[str]) -> None:
    """No two samples of one request share a client id: which would be stored?"""
    first: dict[str, int] = {}
    for i, client_id in enumerate(client_ids):
        if not client_id:
            continue
        if client_id in first:
            v.add(f"samples[{i}].client_id", f"repeats samples[{first[client_id]}].client_id")
        else:
            first[client_id] = i


@dataclass(frozen=True)
class Item:
    name: str
    quantity_g: float | None
    calories: float | None


@dataclass(frozen=True)
class MealIn:
    """One meal as asked to be stored."""

    eaten_at: dt.datetime | None
    name: str
    calories: float
    protein_g: float
    carbohydrate_g: float
    fat_g: float
    items: list[Item]
    client_id: str


def check_meal(v: Violations, m: MealIn, now: dt.datetime) -> None:
    if m.eaten_at is None:
        v.add("meal.eaten_at", "is required")
    check_time(v, "meal.eaten_at", m.eaten_at, now)
    if len(m.name) > MAX_MEAL_NAME:
        v.add("meal.name", f"at most {MAX_MEAL_NAME} characters")
    v.check_range("meal.calories", m.calories, 0, 10_000)
    for name in ("protein_g", "carbohydrate_g", "fat_g"):
        v.check_range(f"meal.{name}", getattr(m, name), 0, 1000)
    if len(m.client_id) > MAX_CLIENT_ID:
        v.add("meal.client_id", f"at most {MAX_CLIENT_ID} characters")
    if len(m.items) > MAX_ITEMS:
        v.add("meal.items", f"at most {MAX_ITEMS} items")
    for i, item in enumerate(m.items[:MAX_ITEMS]):
        if not 0 < len(item.name) <= MAX_ITEM_NAME:
            v.add(f"meal.items[{i}].name", f"is required, at most {MAX_ITEM_NAME} characters")
        v.check_range(f"meal.items[{i}].quantity_g", item.quantity_g, 0, 5000)
        v.check_range(f"meal.items[{i}].calories", item.calories, 0, 10_000)


def record_id(what: str, user_id: str, client_id: str) -> str:
    """A fresh id, or one derived from the user and the client's id, so a re-sent sample
    or meal lands on the one it repeats. The pair is encoded unambiguously: ("a:b", "c")
    and ("a", "b:c") must not meet."""
    if not client_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:{what}:{json.dumps([user_id, client_id])}"))


def day(at: dt.datetime) -> str:
    """The UTC day `at` falls on, as YYYY-MM-DD."""
    return at.astimezone(dt.UTC).date().isoformat()
