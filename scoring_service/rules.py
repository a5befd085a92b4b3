"""fitmesh's scoring rules (WHO 2020 guidelines). Pure: no gRPC, no I/O.

Intensity minutes = moderate + 2 x vigorous, with no minimum bout length: a 10-minute
vigorous session earns 20, a 10-minute walk earns 10, light activity earns none.
The weekly score is min(100, 100 x intensity minutes / 150).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from scoring_service.catalogue import ACTIVITIES, met_for
from servicekit.errors import Violations

DEFAULT_WEIGHT_KG = 70.0
MAX_DURATION_SECONDS = 24 * 3600
WHO_WEEKLY_MINUTES = 150.0
WHO_UPPER_MINUTES = 300.0
WHO_STRENGTH_DAYS = 2
MAX_ITEMS = 1000


class Intensity(enum.StrEnum):
    LIGHT = "light"
    MODERATE = "moderate"
    VIGOROUS = "vigorous"


class IntensitySource(enum.StrEnum):
    MET = "met"
    HEART_RATE_RESERVE = "heart_rate_reserve"


class GoalType(enum.StrEnum):
    WORKOUTS_COUNT = "workouts_count"
    ACTIVE_MINUTES = "active_minutes"
    INTENSITY_MINUTES = "intensity_minutes"
    CALORIES = "calories"
    DISTANCE_KM = "distance_km"
    # Moved by health metrics' day totals (user_service), never by a workout.
    DAILY_STEPS = "daily_steps"
    DAILY_SLEEP_MINUTES = "daily_sleep_minutes"
    DAILY_WATER_ML = "daily_water_ml"


DAILY_GOAL_TYPES = frozenset(
    {GoalType.DAILY_STEPS, GoalType.DAILY_SLEEP_MINUTES, GoalType.DAILY_WATER_ML}
)


class GoalStatus(enum.StrEnum):
    ACTIVE = "active"
    ACHIEVED = "achieved"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Athlete:
    weight_kg: float | None = None
    age_years: int | None = None
    resting_heart_rate: int | None = None
    max_heart_rate: int | None = None

    def estimated_max_heart_rate(self) -> float | None:
        if self.max_heart_rate is not None:
            return float(self.max_heart_rate)
        if self.age_years is not None:
            return 208 - 0.7 * self.age_years  # Tanaka, Monahan & Seals (2001)
        return None


@dataclass(frozen=True)
class Workout:
    workout_type: str
    duration_seconds: float
    avg_heart_rate: int | None = None
    distance_m: float | None = None
    athlete: Athlete = field(default_factory=Athlete)


@dataclass(frozen=True)
class WorkoutScore:
    met: float
    intensity: Intensity
    intensity_source: IntensitySource
    calories_burned: float
    moderate_minutes: float
    vigorous_minutes: float
    intensity_minutes: float
    points: float
    weight_kg_used: float


def validate_athlete(v: Violations, athlete: Athlete, prefix: str = "athlete") -> None:
    v.check_range(f"{prefix}.weight_kg", athlete.weight_kg, 20, 400)
    v.check_range(f"{prefix}.age_years", athlete.age_years, 5, 120)
    v.check_range(f"{prefix}.resting_heart_rate", athlete.resting_heart_rate, 30, 120)
    v.check_range(f"{prefix}.max_heart_rate", athlete.max_heart_rate, 100, 250)
    rest, top = athlete.resting_heart_rate, athlete.max_heart_rate
    if rest is not None and top is not None and rest >= top:
        v.add(f"{prefix}.max_heart_rate", "must be above resting_heart_rate")


def validate_workout(v: Violations, workout: Workout) -> None:
    if not workout.workout_type:
        v.add("workout_type", "is required")
    elif workout.workout_type not in ACTIVITIES:
        v.add("workout_type", f"unknown workout type {workout.workout_type!r}")
    if not 0 < workout.duration_seconds <= MAX_DURATION_SECONDS:
        v.add("duration_seconds", f"must be more than 0 and at most {MAX_DURATION_SECONDS}")
    v.check_range("avg_heart_rate", workout.avg_heart_rate, 30, 250)
    v.check_range("distance_m", workout.distance_m, 0, 1_000_000)
    validate_athlete(v, workout.athlete)


def duration_between(v: Violations, start: dt.datetime, end: dt.datetime) -> float:
    """Seconds from start to end, recording a violation when end is not after start."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        v.add("end_time", "must be after start_time")
    return seconds


def classify_met(met: float) -> Intensity:
    if met >= 6:
        return Intensity.VIGOROUS
    if met >= 3:
        return Intensity.MODERATE
    return Intensity.LIGHT


def classify_heart_rate_reserve(percent: float) -> Intensity:
    if percent >= 60:
        return Intensity.VIGOROUS
    if percent >= 40:
        return Intensity.MODERATE
    return Intensity.LIGHT


def heart_rate_reserve_percent(avg: int, athlete: Athlete) -> float | None:
    """(avg - rest) / (max - rest) x 100 (Karvonen), or None without the numbers for it."""
    top = athlete.estimated_max_heart_rate()
    rest = athlete.resting_heart_rate
    if rest is None or top is None or top <= rest:
        return None
    return 100 * (avg - rest) / (top - rest)


def score_workout(workout: Workout) -> WorkoutScore:
    v = Violations()
    validate_workout(v, workout)
    v.raise_if_any()

    hours = workout.duration_seconds / 3600
    minutes = workout.duration_seconds / 60
    speed = workout.distance_m / 1000 / hours if workout.distance_m else None
    met = met_for(workout.workout_type, speed)

    intensity, source = classify_met(met), IntensitySource.MET
    if workout.avg_heart_rate is not None:
        reserve = heart_rate_reserve_percent(workout.avg_heart_rate, workout.athlete)
        if reserve is not None:
            intensity = classify_heart_rate_reserve(reserve)
            source = IntensitySource.HEART_RATE_RESERVE

    moderate = minutes if intensity is Intensity.MODERATE else 0.0
    vigorous = minutes if intensity is Intensity.VIGOROUS else 0.0
    intensity_minutes = moderate + 2 * vigorous
    weight = workout.athlete.weight_kg or DEFAULT_WEIGHT_KG
    return WorkoutScore(
        met=met,
        intensity=intensity,
        intensity_source=source,
        calories_burned=round(met * weight * hours, 2),
        moderate_minutes=round(moderate, 2),
        vigorous_minutes=round(vigorous, 2),
        intensity_minutes=round(intensity_minutes, 2),
        points=round(min(100.0, 100 * intensity_minutes / WHO_WEEKLY_MINUTES), 2),
        weight_kg_used=weight,
    )


@dataclass(frozen=True)
class WeekWorkout:
    workout_type: str
    start_time: dt.datetime
    moderate_minutes: float
    vigorous_minutes: float


@dataclass(frozen=True)
class WeekScore:
    score: float
    moderate_minutes: float
    vigorous_minutes: float
    intensity_minutes: float
    meets_guideline: bool
    upper_target_percent: float
    strength_days: int
    meets_strength_guideline: bool


def score_week(workouts: Sequence[WeekWorkout]) -> WeekScore:
    v = Violations()
    if len(workouts) > MAX_ITEMS:
        v.add("workouts", f"at most {MAX_ITEMS} workouts")
    for i, w in enumerate(workouts):
        if w.workout_type not in ACTIVITIES:
            v.add(f"workouts[{i}].workout_type", "unknown or missing workout type")
        v.check_range(f"workouts[{i}].moderate_minutes", w.moderate_minutes, 0, 1440)
        v.check_range(f"workouts[{i}].vigorous_minutes", w.vigorous_minutes, 0, 1440)
    v.raise_if_any()

    moderate = sum(w.moderate_minutes for w in workouts)
    vigorous = sum(w.vigorous_minutes for w in workouts)
    intensity_minutes = moderate + 2 * vigorous
    strength_days = len(
        {
            w.start_time.astimezone(dt.UTC).date()
            for w in workouts
            if ACTIVITIES[w.workout_type].muscle_strengthening
        }
    )
    return WeekScore(
        score=round(min(100.0, 100 * intensity_minutes / WHO_WEEKLY_MINUTES), 2),
        moderate_minutes=round(moderate, 2),
        vigorous_minutes=round(vigorous, 2),
        intensity_minutes=round(intensity_minutes, 2),
        meets_guideline=intensity_minutes >= WHO_WEEKLY_MINUTES,
        upper_target_percent=round(min(100.0, 100 * intensity_minutes / WHO_UPPER_MINUTES), 2),
        strength_days=strength_days,
        meets_strength_guideline=strength_days >= WHO_STRENGTH_DAYS,
    )


@dataclass(frozen=True)
class Goal:
    goal_id: str
    goal_type: GoalType
    target_value: float
    current_progress: float
    target_date: dt.date
    status: GoalStatus


@dataclass(frozen=True)
class Contribution:
    ended_at: dt.datetime
    duration_seconds: float
    calories_burned: float
    intensity_minutes: float
    distance_m: float


@dataclass(frozen=True)
class GoalProgress:
    goal_id: str
    current_progress: float
    progress_percent: float
    status: GoalStatus
    newly_achieved: bool


def contribution_to(goal_type: GoalType, c: Contribution) -> float:
    match goal_type:
        case GoalType.DAILY_STEPS | GoalType.DAILY_SLEEP_MINUTES | GoalType.DAILY_WATER_ML:
            return 0.0
        case GoalType.WORKOUTS_COUNT:
            return 1.0
        case GoalType.ACTIVE_MINUTES:
            return c.duration_seconds / 60
        case GoalType.INTENSITY_MINUTES:
            return c.intensity_minutes
        case GoalType.CALORIES:
            return c.calories_burned
        case GoalType.DISTANCE_KM:
            return c.distance_m / 1000


def validate_contribution(v: Violations, c: Contribution) -> None:
    for name in ("duration_seconds", "calories_burned", "intensity_minutes", "distance_m"):
        v.check_range(f"contribution.{name}", getattr(c, name), 0, 1e9)


def evaluate_goal(goal: Goal, c: Contribution) -> GoalProgress:
    progress, status, newly = goal.current_progress, goal.status, False
    # A workout neither moves nor expires a daily goal: its days are health metrics'.
    if status is GoalStatus.ACTIVE and goal.goal_type not in DAILY_GOAL_TYPES:
        if c.ended_at.astimezone(dt.UTC).date() > goal.target_date:
            status = GoalStatus.EXPIRED
        else:
            progress = round(progress + contribution_to(goal.goal_type, c), 4)
            if progress >= goal.target_value:
                status, newly = GoalStatus.ACHIEVED, True
    return GoalProgress(
        goal_id=goal.goal_id,
        current_progress=progress,
        progress_percent=round(min(100.0, 100 * progress / goal.target_value), 2),
        status=status,
        newly_achieved=newly,
    )


def evaluate_goals(goals: Sequence[Goal], c: Contribution) -> list[GoalProgress]:
    v = Violations()
    if len(goals) > MAX_ITEMS:
        v.add("goals", f"at most {MAX_ITEMS} goals")
    for i, g in enumerate(goals):
        if not g.goal_id:
            v.add(f"goals[{i}].goal_id", "is required")
        if not g.target_value > 0:
            v.add(f"goals[{i}].target_value", "must be more than 0")
    validate_contribution(v, c)
    v.raise_if_any()
    return [evaluate_goal(g, c) for g in goals]
