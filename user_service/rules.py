"""Validation of accounts, profiles and goals. Pure: values in, clean values or violations out."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from servicekit.errors import Violations

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
WORKOUT_GOAL_TYPES = (
    "workouts_count",
    "active_minutes",
    "intensity_minutes",
    "calories",
    "distance_km",
)
# Daily goal types: the metric type whose day totals move each, and its largest target.
DAILY_GOAL_METRICS = {
    "daily_steps": "steps",
    "daily_sleep_minutes": "sleep_minutes",
    "daily_water_ml": "water_ml",
}
DAILY_TARGET_LIMITS = {
    "daily_steps": 100_000,
    "daily_sleep_minutes": 1440,
    "daily_water_ml": 10_000,
}
GOAL_TYPES = WORKOUT_GOAL_TYPES + tuple(DAILY_GOAL_METRICS)
SEXES = ("female", "male", "other")
MAX_GOAL_TARGET = 1_000_000
MAX_GOAL_HORIZON = dt.timedelta(days=5 * 366)


@dataclass(frozen=True)
class Profile:
    display_name: str | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    resting_heart_rate: int | None = None
    max_heart_rate: int | None = None


PROFILE_FIELDS = tuple(Profile.__dataclass_fields__)


def check_username(v: Violations, username: str) -> None:
    if not USERNAME.fullmatch(username):
        v.add("username", "must be 3-32 characters of a-z, 0-9, '_', '.' and '-'")


def has_nul(*texts: str | None) -> bool:
    """PostgreSQL text cannot hold NUL; such input is refused before it gets there."""
    return any(t is not None and "\x00" in t for t in texts)


def normalize_email(v: Violations, email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        v.add("email", str(exc))
        return email


def check_password(v: Violations, password: str, field: str = "password") -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        v.add(field, f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    if has_nul(password):
        v.add(field, "must not contain NUL characters")


def parse_id(v: Violations, field: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        v.add(field, "must be an id as returned by this service")
        return uuid.UUID(int=0)


def parse_date(v: Violations, field: str, text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        v.add(field, "must be a date as YYYY-MM-DD")
        return None


def check_profile(v: Violations, p: Profile, today: dt.date, prefix: str = "profile.") -> None:
    if p.display_name is not None and (
        not 1 <= len(p.display_name.strip()) <= 64 or has_nul(p.display_name)
    ):
        v.add(f"{prefix}display_name", "must be 1-64 characters, without NUL")
    v.check_range(f"{prefix}weight_kg", p.weight_kg, 20, 400)
    v.check_range(f"{prefix}height_cm", p.height_cm, 50, 280)
    v.check_range(f"{prefix}resting_heart_rate", p.resting_heart_rate, 30, 120)
    v.check_range(f"{prefix}max_heart_rate", p.max_heart_rate, 100, 250)
    rest, top = p.resting_heart_rate, p.max_heart_rate
    if rest is not None and top is not None and rest >= top:
        v.add(f"{prefix}max_heart_rate", "must be above resting_heart_rate")
    if p.birth_date is not None and not (
        today.replace(year=today.year - 120) <= p.birth_date <= today
    ):
        v.add(f"{prefix}birth_date", "must be in the past 120 years")
    if p.sex is not None and p.sex not in SEXES:
        v.add(f"{prefix}sex", f"must be one of {', '.join(SEXES)}")


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_goal_target(v: Violations, target_value: float, goal_type: str | None) -> None:
    """A daily type has its own largest target (a day holds no more); others share one."""
    top = DAILY_TARGET_LIMITS.get(goal_type or "")
    if top is None:
        top, what = MAX_GOAL_TARGET, ""
    else:
        what = f" for {goal_type}"
    if not (math.isfinite(target_value) and 0 < target_value <= top):
        v.add("target_value", f"must be more than 0 and at most {top}{what}")


def check_goal_date(v: Violations, target_date: dt.date | None, today: dt.date) -> None:
    if target_date is None:
        return
    if target_date < today:
        v.add("target_date", "must be today or later")
    elif target_date > today + MAX_GOAL_HORIZON:
        v.add("target_date", "must be within five years")


@dataclass(frozen=True)
class DailyGoal:
    target_value: float
    current_progress: float
    first_day: dt.date  # the day it was created (UTC)
    target_date: dt.date


@dataclass(frozen=True)
class DailyProgress:
    current_progress: float
    achieved: bool


def daily_progress(goal: DailyGoal, day: dt.date, total: float) -> DailyProgress | None:
    """An active daily goal after learning a day's total; None when the day is outside
    the goal's days, which leaves it as it is. The best day counts (max, not sum), so a
    total seen twice or late never doubles or lowers progress."""
    if not goal.first_day <= day <= goal.target_date:
        return None
    progress = max(goal.current_progress, total)
    return DailyProgress(progress, progress >= goal.target_value)


def replay(target_value: float, untracked: float, amounts: Sequence[float]) -> tuple[float, bool]:
    """A workout goal's progress from what its workouts added, in the order they came, and
    whether it reaches the target. An achieved goal counts no further workout, so it keeps
    the progress it was achieved with: a later workout counts only while those before it
    fall short (and does once a change takes one of those back). Each step rounds as the
    scoring service does."""
    progress = untracked
    for amount in amounts:
        if progress >= target_value:
            break
        progress = round(progress + amount, 4)
    return progress, progress >= target_value


def workout_goal_status(status: str, reached: bool, after_target_date: bool) -> str:
    """A workout goal's status once its workouts changed: achieved while they reach the
    target; else expired when it was, or when the workout at hand ended after the target
    date (as a new workout expires it), and active otherwise — so an achieved goal a change
    takes below its target is no longer achieved."""
    if reached:
        return "achieved"
    if status == "expired" or after_target_date:
        return "expired"
    return "active"
