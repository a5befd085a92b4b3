"""Validation and arithmetic of workouts. Pure: no gRPC, no database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servicekit.errors import Violations

MAX_DURATION = dt.timedelta(hours=24)
# Clocks differ a little between a phone and the server; an end this far ahead is accepted.
CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_MESSAGE = 2000
MAX_UPDATE_BYTES = 4096
MAX_MEMBERS = 1000
MAX_ARCHIVED_ITEMS = 20_000
# What an owner may change of a completed workout; the rest is derived (duration, score)
# or history (the athlete it was scored with).
EDITABLE = ("workout_type", "start_time", "end_time", "avg_heart_rate", "distance_m")


@dataclass(frozen=True)
class Athlete:
    weight_kg: float | None = None
    age_years: int | None = None
    resting_heart_rate: int | None = None
    max_heart_rate: int | None = None


def check_athlete(v: Violations, a: Athlete) -> None:
    v.check_range("athlete.weight_kg", a.weight_kg, 20, 400)
    v.check_range("athlete.age_years", a.age_years, 5, 120)
    v.check_range("athlete.resting_heart_rate", a.resting_heart_rate, 30, 120)
    v.check_range("athlete.max_heart_rate", a.max_heart_rate, 100, 250)


def check_measurements(v: Violations, avg_heart_rate: int | None, distance_m: float | None) -> None:
    v.check_range("avg_heart_rate", avg_heart_rate, 30, 250)
    v.check_range("distance_m", distance_m, 0, 1_000_000)


def check_period(v: Violations, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    if end <= start:
        v.add("end_time", "must be after start_time")
    elif end - start > MAX_DURATION:
        v.add("end_time", "a workout lasts at most 24 hours")
    if end > now + CLOCK_SKEW:
        v.add("end_time", "must not be in the future")


def to_millis(at: dt.datetime) -> dt.datetime:
    """MongoDB keeps milliseconds; rounding first keeps page tokens exact."""
    at = at.astimezone(dt.UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def check_exercise_update(v: Violations, field: str, data_json: str) -> None:
    if len(data_json.encode()) > MAX_UPDATE_BYTES:
        v.add(field, f"at most {MAX_UPDATE_BYTES} bytes")
        return
    try:
        json.loads(data_json)
    except ValueError:
        v.add(field, "must be JSON")


def version_of(doc: Mapping[str, Any]) -> int:
    """A stored workout's version: 1 as stored (or stored before versions), +1 a change."""
    return int(doc.get("version") or 1)


def edited(
    v: Violations, before: Mapping[str, Any], changes: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """The workout with `changes` (an EDITABLE field each; None clears a measurement),
    checked as a log is: what the new times make must be a workout a log would take."""
    after = {**before, **changes}
    after["start_time"] = to_millis(after["start_time"])
    after["end_time"] = to_millis(after["end_time"])
    if "start_time" in changes or "end_time" in changes:
        check_period(v, after["start_time"], after["end_time"], now)
    check_measurements(v, changes.get("avg_heart_rate"), changes.get("distance_m"))
    after["duration_seconds"] = (after["end_time"] - after["start_time"]).total_seconds()
    return after


def unchanged(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return all(before.get(name) == after.get(name) for name in EDITABLE)
