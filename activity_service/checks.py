"""Checks of the fields every activity request shares: ids, idempotency tokens, workout
types and the athlete; and of what a change of a workout names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activity_service import rules
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.errors import Violations
from servicekit.protoenum import enum_name
from servicekit.protofields import optional, to_datetime

MAX_ID = 64
MAX_TOKEN = 128
MAX_EXPECTED = 16


def check_id(v: Violations, field: str, value: str) -> None:
    if not 0 < len(value) <= MAX_ID:
        v.add(field, f"is required, at most {MAX_ID} characters")
    elif "\x00" in value:  # no stored id holds one, and FerretDB on PostgreSQL cannot
        v.add(field, "must not contain NUL characters")


def check_token(v: Violations, request_id: str, fingerprint: str) -> None:
    if len(request_id) > MAX_TOKEN:
        v.add("request_id", f"at most {MAX_TOKEN} characters")
    if len(fingerprint) > MAX_TOKEN:
        v.add("request_fingerprint", f"at most {MAX_TOKEN} characters")


def workout_type(v: Violations, number: int, required: bool = True) -> str:
    name = enum_name(spb.WorkoutType, number)
    if name is None and (required or number != 0):
        v.add("workout_type", "unknown or missing workout type")
    return name or ""


def athlete_from(v: Violations, message: spb.Athlete) -> rules.Athlete:
    athlete = rules.Athlete(
        weight_kg=optional(message, "weight_kg"),
        age_years=optional(message, "age_years"),
        resting_heart_rate=optional(message, "resting_heart_rate"),
        max_heart_rate=optional(message, "max_heart_rate"),
    )
    rules.check_athlete(v, athlete)
    return athlete


def check_versions(v: Violations, versions: Sequence[int]) -> None:
    if len(versions) > MAX_EXPECTED or any(n < 1 for n in versions):
        v.add("expected_versions", f"at most {MAX_EXPECTED} versions, each at least 1")


def edit_changes(v: Violations, request: pb.UpdateWorkoutRequest) -> dict[str, Any]:
    """The fields an update names, with their values (None clears a measurement)."""
    paths = set(request.update_mask.paths)
    if not paths or not paths <= set(rules.EDITABLE):
        v.add("update_mask", f"name one or more of {', '.join(rules.EDITABLE)}")
    changes: dict[str, Any] = {}
    if "workout_type" in paths:
        changes["workout_type"] = workout_type(v, request.workout_type)
    for name in ("start_time", "end_time"):
        if name in paths and not request.HasField(name):
            v.add(name, "is required when update_mask names it")
        elif name in paths:
            changes[name] = to_datetime(getattr(request, name))
    for name in ("avg_heart_rate", "distance_m"):
        if name in paths:
            changes[name] = optional(request, name)
    return changes
