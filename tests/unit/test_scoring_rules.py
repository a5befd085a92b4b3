"""Worked examples of the scoring rules (ARCHITECTURE §5). Each row is a number a person
can check by hand; together they pin the contract."""

from __future__ import annotations

import datetime as dt

import pytest

from scoring_service import rules
from scoring_service.catalogue import ACTIVITIES, MPH, met_for
from servicekit.errors import InvalidArgument


def minutes(n: float) -> float:
    return n * 60


def test_short_vigorous_session_gets_its_due() -> None:
    # The point of the rules: a 10-minute run is vigorous, so it earns 2 x 10 = 20 intensity
    # minutes. A duration-only rule that counts bouts of 30 minutes or more gives it 0.
    score = rules.score_workout(rules.Workout("running", minutes(10)))
    duration_only_rule = 10 if 10 >= 30 else 0
    assert score.intensity_minutes == 20
    assert duration_only_rule == 0
    # Twice what a 10-minute walk earns; 13.33 of the weekly score's 100 points.
    walk = rules.score_workout(rules.Workout("walking", minutes(10)))
    assert walk.intensity_minutes == 10
    assert score.points == 13.33


@pytest.mark.parametrize(
    ("workout", "met", "intensity", "kcal", "moderate", "vigorous", "im"),
    [
        # 10 min running, 70 kg: 9.8 x 70 x 1/6 h = 114.33 kcal; vigorous: 2 x 10.
        (rules.Workout("running", minutes(10)), 9.8, "vigorous", 114.33, 0, 10, 20),
        # 30 min walking: 3.5 MET is moderate; 3.5 x 70 x 0.5 = 122.5 kcal.
        (rules.Workout("walking", minutes(30)), 3.5, "moderate", 122.5, 30, 0, 30),
        # 45 min yoga: 2.5 MET is light and earns no intensity minutes.
        (rules.Workout("yoga", minutes(45)), 2.5, "light", 131.25, 0, 0, 0),
        # 60 min strength at 80 kg: 3.5 x 80 = 280 kcal, moderate.
        (
            rules.Workout("strength", minutes(60), athlete=rules.Athlete(weight_kg=80)),
            3.5,
            "moderate",
            280.0,
            60,
            0,
            60,
        ),
        # 20 min HIIT: 8.0 MET vigorous; 8 x 70 / 3 = 186.67 kcal; 40 intensity minutes.
        (rules.Workout("hiit", minutes(20)), 8.0, "vigorous", 186.67, 0, 20, 40),
        # Brisk walking 4.3 MET, 40 min: 4.3 x 70 x 2/3 = 200.67 kcal.
        (rules.Workout("brisk_walking", minutes(40)), 4.3, "moderate", 200.67, 40, 0, 40),
        # Swimming 5.8 MET is moderate (below 6).
        (rules.Workout("swimming", minutes(30)), 5.8, "moderate", 203.0, 30, 0, 30),
        # Hiking 6.0 MET is vigorous (6 and above).
        (rules.Workout("hiking", minutes(60)), 6.0, "vigorous", 420.0, 0, 60, 120),
    ],
)
def test_worked_examples(
    workout: rules.Workout,
    met: float,
    intensity: str,
    kcal: float,
    moderate: float,
    vigorous: float,
    im: float,
) -> None:
    score = rules.score_workout(workout)
    assert (score.met, score.intensity, score.calories_burned) == (met, intensity, kcal)
    assert (score.moderate_minutes, score.vigorous_minutes) == (moderate, vigorous)
    assert score.intensity_minutes == im
    assert score.intensity_source == "met"


@pytest.mark.parametrize(
    ("workout_type", "km", "minutes_taken", "met"),
    [
        # 5 km in 30 min = 10 km/h = 6.2 mph: the 6 mph step, 9.8.
        ("running", 5, 30, 9.8),
        # 5 km in 25 min = 12 km/h = 7.46 mph: the 7 mph step, 11.0.
        ("running", 5, 25, 11.0),
        # 3 km in 30 min = 6 km/h = 3.7 mph: a slow jog is the floor step, 6.0.
        ("running", 3, 30, 6.0),
        # 10 km in 40 min = 15 km/h = 9.3 mph: the 9 mph step, 12.8.
        ("running", 10, 40, 12.8),
        # 5 km in 60 min = 5 km/h = 3.1 mph: moderate walking, 3.5.
        ("walking", 5, 60, 3.5),
        # 6 km in 60 min = 3.7 mph: brisk, 4.3 (whichever walking type was chosen).
        ("walking", 6, 60, 4.3),
        # 3 km/h = 1.9 mph is a stroll, 2.0, even when logged as brisk walking.
        ("brisk_walking", 3, 60, 2.0),
        ("brisk_walking", 3.3, 60, 2.8),
        # 30 km in 60 min = 18.6 mph: the 16-19 mph step, 12.0.
        ("cycling", 30, 60, 12.0),
        # 12 km in 60 min = 7.5 mph: leisure cycling, 4.0 (light-moderate boundary).
        ("cycling", 12, 60, 4.0),
    ],
)
def test_pace_refines_met(workout_type: str, km: float, minutes_taken: float, met: float) -> None:
    workout = rules.Workout(workout_type, minutes(minutes_taken), distance_m=km * 1000)
    assert rules.score_workout(workout).met == met


def test_pace_leaves_other_types_alone() -> None:
    assert met_for("swimming", 3.0) == 5.8


def test_pace_steps_are_mph_brackets() -> None:
    assert met_for("running", 6 * MPH) == 9.8
    assert met_for("running", 6 * MPH - 0.01) == 9.0


@pytest.mark.parametrize(
    ("workout_type", "avg", "athlete", "intensity"),
    [
        # Walking is moderate by MET, but 150 bpm with rest 60, max 190 is
        # (150-60)/(190-60) = 69 % of reserve: vigorous.
        ("walking", 150, rules.Athlete(resting_heart_rate=60, max_heart_rate=190), "vigorous"),
        # Running at 100 bpm is (100-60)/130 = 31 %: light, whatever the MET says.
        ("running", 100, rules.Athlete(resting_heart_rate=60, max_heart_rate=190), "light"),
        # 40 % exactly is moderate: 60 + 0.4 x 130 = 112.
        ("running", 112, rules.Athlete(resting_heart_rate=60, max_heart_rate=190), "moderate"),
        # Max from age (Tanaka: 208 - 0.7 x 40 = 180): (132-60)/120 = 60 %: vigorous.
        ("yoga", 132, rules.Athlete(resting_heart_rate=60, age_years=40), "vigorous"),
        ("yoga", 131, rules.Athlete(resting_heart_rate=60, age_years=40), "moderate"),
    ],
)
def test_heart_rate_reserve_decides_intensity(
    workout_type: str, avg: int, athlete: rules.Athlete, intensity: str
) -> None:
    score = rules.score_workout(rules.Workout(workout_type, minutes(30), avg, athlete=athlete))
    assert score.intensity == intensity
    assert score.intensity_source == "heart_rate_reserve"


def test_heart_rate_without_resting_rate_falls_back_to_met() -> None:
    athlete = rules.Athlete(max_heart_rate=190)
    score = rules.score_workout(rules.Workout("walking", minutes(30), 180, athlete=athlete))
    assert (score.intensity, score.intensity_source) == ("moderate", "met")


def test_heart_rate_reserve_counts_minutes_in_its_band() -> None:
    athlete = rules.Athlete(resting_heart_rate=60, max_heart_rate=190)
    score = rules.score_workout(rules.Workout("walking", minutes(30), 150, athlete=athlete))
    assert (score.moderate_minutes, score.vigorous_minutes, score.intensity_minutes) == (0, 30, 60)


def test_catalogue_covers_the_architecture_table() -> None:
    expected = {
        "walking": 3.5,
        "brisk_walking": 4.3,
        "running": 9.8,
        "cycling": 8.0,
        "swimming": 5.8,
        "strength": 3.5,
        "hiit": 8.0,
        "circuit": 8.0,
        "yoga": 2.5,
        "rowing": 7.0,
        "elliptical": 5.0,
        "hiking": 6.0,
    }
    assert {name: ACTIVITIES[name].met for name in expected} == expected
    assert len(ACTIVITIES) >= 15


@pytest.mark.parametrize(
    ("workout", "fields"),
    [
        (rules.Workout("running", 0), {"duration_seconds"}),
        (rules.Workout("running", -60), {"duration_seconds"}),
        (rules.Workout("running", 24 * 3600 + 1), {"duration_seconds"}),
        (rules.Workout("curling", 600), {"workout_type"}),
        (rules.Workout("", 600), {"workout_type"}),
        (rules.Workout("running", 600, avg_heart_rate=29), {"avg_heart_rate"}),
        (rules.Workout("running", 600, avg_heart_rate=251), {"avg_heart_rate"}),
        (rules.Workout("running", 600, distance_m=-1), {"distance_m"}),
        (rules.Workout("running", 600, distance_m=float("nan")), {"distance_m"}),
        (rules.Workout("running", 600, athlete=rules.Athlete(weight_kg=5)), {"athlete.weight_kg"}),
        (
            rules.Workout(
                "running", 600, athlete=rules.Athlete(resting_heart_rate=80, max_heart_rate=70)
            ),
            {"athlete.max_heart_rate"},
        ),
        (
            rules.Workout("curling", 0, avg_heart_rate=300),
            {"workout_type", "duration_seconds", "avg_heart_rate"},
        ),
    ],
)
def test_bad_input_names_every_field(workout: rules.Workout, fields: set[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        rules.score_workout(workout)
    assert {v.field for v in caught.value.violations} == fields


def test_a_full_day_is_allowed() -> None:
    assert rules.score_workout(rules.Workout("walking", 24 * 3600)).moderate_minutes == 1440


MONDAY = dt.datetime(2026, 11, 16, 7, 0, tzinfo=dt.UTC)


def week(*items: tuple[str, int, float, float]) -> list[rules.WeekWorkout]:
    return [
        rules.WeekWorkout(kind, MONDAY + dt.timedelta(days=day), moderate, vigorous)
        for kind, day, moderate, vigorous in items
    ]


@pytest.mark.parametrize(
    ("workouts", "score", "im", "meets", "upper"),
    [
        ([], 0, 0, False, 0),
        # 75 moderate minutes: half the guideline.
        (week(("walking", 0, 75, 0)), 50, 75, False, 25),
        # 75 vigorous minutes count double: exactly the guideline.
        (week(("running", 0, 0, 75)), 100, 150, True, 50),
        # Five 10-minute vigorous sessions and 50 walking minutes: 100 + 50 = 150.
        (week(*[("hiit", d, 0, 10) for d in range(5)], ("walking", 5, 50, 0)), 100, 150, True, 50),
        # Far beyond: capped at 100, upper target reached.
        (week(("running", 0, 0, 200)), 100, 400, True, 100),
        (week(("walking", 0, 149.99, 0)), 99.99, 149.99, False, 50),
    ],
)
def test_weekly_who_score(
    workouts: list[rules.WeekWorkout], score: float, im: float, meets: bool, upper: float
) -> None:
    result = rules.score_week(workouts)
    assert (result.score, result.intensity_minutes, result.meets_guideline) == (score, im, meets)
    assert result.upper_target_percent == upper


def test_strength_days_count_distinct_days() -> None:
    same_day = rules.score_week(week(("strength", 0, 30, 0), ("circuit", 0, 0, 20)))
    assert (same_day.strength_days, same_day.meets_strength_guideline) == (1, False)
    two_days = rules.score_week(week(("strength", 0, 30, 0), ("pilates", 3, 30, 0)))
    assert (two_days.strength_days, two_days.meets_strength_guideline) == (2, True)
    running_only = rules.score_week(week(("running", 0, 0, 30), ("running", 1, 0, 30)))
    assert running_only.strength_days == 0


def test_week_rejects_negative_minutes_and_unknown_types() -> None:
    with pytest.raises(InvalidArgument) as caught:
        rules.score_week(week(("walking", 0, -1, 0), ("curling", 1, 10, 0)))
    assert {v.field for v in caught.value.violations} == {
        "workouts[0].moderate_minutes",
        "workouts[1].workout_type",
    }


TODAY = dt.date(2026, 11, 22)
ENDED = dt.datetime(2026, 11, 22, 18, 30, tzinfo=dt.UTC)


def goal(
    kind: str, target: float, progress: float = 0, status: str = "active", until: dt.date = TODAY
) -> rules.Goal:
    return rules.Goal("g1", rules.GoalType(kind), target, progress, until, rules.GoalStatus(status))


# A 45-minute run: 5 km, 514.5 kcal, 90 intensity minutes.
RUN = rules.Contribution(ENDED, 45 * 60, 514.5, 90, 5000)


@pytest.mark.parametrize(
    ("g", "progress", "percent", "status", "newly"),
    [
        (goal("workouts_count", 3, 1), 2, 66.67, "active", False),
        (goal("workouts_count", 3, 2), 3, 100, "achieved", True),
        (goal("active_minutes", 60), 45, 75, "active", False),
        (goal("intensity_minutes", 150, 60), 150, 100, "achieved", True),
        (goal("calories", 1000, 500), 1014.5, 100, "achieved", True),
        (goal("distance_km", 21.1, 10), 15, 71.09, "active", False),
        # Already achieved: nothing changes and it is not announced again.
        (goal("workouts_count", 1, 1, "achieved"), 1, 100, "achieved", False),
        # The target day has passed: the goal expires and the workout does not count.
        (
            goal("workouts_count", 3, 1, until=TODAY - dt.timedelta(days=1)),
            1,
            33.33,
            "expired",
            False,
        ),
        (goal("workouts_count", 3, 1, "expired"), 1, 33.33, "expired", False),
        # Daily goals move with health metrics only: a workout neither adds to nor expires
        # them, even after their target day.
        (goal("daily_steps", 10_000, 4000), 4000, 40, "active", False),
        (
            goal("daily_sleep_minutes", 480, until=TODAY - dt.timedelta(days=1)),
            0,
            0,
            "active",
            False,
        ),
        (goal("daily_water_ml", 2000, 1500), 1500, 75, "active", False),
    ],
)
def test_goal_evaluation(
    g: rules.Goal, progress: float, percent: float, status: str, newly: bool
) -> None:
    [result] = rules.evaluate_goals([g], RUN)
    assert (result.current_progress, result.progress_percent) == (progress, percent)
    assert (result.status, result.newly_achieved) == (status, newly)


def test_goal_evaluation_rejects_bad_goals() -> None:
    bad = rules.Goal("", rules.GoalType.CALORIES, 0, 0, TODAY, rules.GoalStatus.ACTIVE)
    negative = rules.Contribution(ENDED, -1, 0, 0, 0)
    with pytest.raises(InvalidArgument) as caught:
        rules.evaluate_goals([bad], negative)
    assert {v.field for v in caught.value.violations} == {
        "goals[0].goal_id",
        "goals[0].target_value",
        "contribution.duration_seconds",
    }
