"""Checks of the fields every activity request shares: ids, idempotency tokens, workout
types and the athlete."""

from __future__ import annotations

from activity_service import rules
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.errors import Violations
from servicekit.protoenum import enum_name
from servicekit.protofields import optional

MAX_ID = 64
MAX_TOKEN = 128


def check_id(v: Violations, field: str, value: str) -> None:
    if not 0 < len(value) <= MAX_ID:
        v.add(field, f"is required, at most {MAX_ID} characters")


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
