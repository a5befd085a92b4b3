"""The pure parts of daily goals: the `metric.day_total` event as it travels on the
stream, and the rule that moves a daily goal from a day's total."""

from __future__ import annotations

import datetime as dt

import pytest

from fitmesh.scoring.v1 import scoring_pb2 as spb
from scoring_service.rules import DAILY_GOAL_TYPES
from servicekit.errors import InvalidArgument, Violations
from servicekit.events import (
    DAY_TOTAL_METRICS,
    METRIC_DAY_TOTAL,
    MalformedEvent,
    MetricDayTotal,
    WorkoutCompleted,
)
from servicekit.protoenum import enum_names
from user_service import rules
from user_service.rules import DailyGoal, DailyProgress, daily_progress

DAY = dt.date(2026, 3, 14)
USER = "0b6c4f6e-5f0e-4d6c-9c39-8d1f7f3b1a2e"


def test_a_day_total_survives_the_stream() -> None:
    event = MetricDayTotal.of(USER, "steps", DAY, 12_345)
    fields = event.to_fields()
    assert fields["type"] == METRIC_DAY_TOTAL
    assert (fields["day"], fields["total"], fields["metric_type"]) == (
        "2026-03-14",
        "12345.0",
        "steps",
    )
    assert all(isinstance(v, str) for v in fields.values())
    assert MetricDayTotal.from_fields(fields) == event


def test_the_event_id_follows_from_user_type_day_and_total() -> None:
    same = MetricDayTotal.of(USER, "water_ml", DAY, 1500.5)
    assert same.event_id == MetricDayTotal.of(USER, "water_ml", DAY, 1500.5).event_id
    others = {
        MetricDayTotal.of("someone-else", "water_ml", DAY, 1500.5).event_id,
        MetricDayTotal.of(USER, "steps", DAY, 1500.5).event_id,
        MetricDayTotal.of(USER, "water_ml", DAY + dt.timedelta(days=1), 1500.5).event_id,
        MetricDayTotal.of(USER, "water_ml", DAY, 1501).event_id,
    }
    assert same.event_id not in others
    assert len(others) == 4


def _fields(**changes: str | None) -> dict[str, str]:
    fields = MetricDayTotal.of(USER, "sleep_minutes", DAY, 420).to_fields()
    for name, value in changes.items():
        if value is None:
            del fields[name]
        else:
            fields[name] = value
    return fields


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"type": "workout.completed"}, "not a metric.day_total event"),
        ({"type": None}, "not a metric.day_total event"),
        ({"total": None}, "missing total"),
        ({"total": "lots"}, "total is not a number"),
        ({"total": "-1"}, "total must be a finite number >= 0"),
        ({"total": "nan"}, "total must be a finite number >= 0"),
        ({"total": "inf"}, "total must be a finite number >= 0"),
        ({"day": "14/03/2026"}, "day is not a date"),
        ({"day": ""}, "day is not a date"),
        ({"user_id": ""}, "user_id is empty"),
        ({"event_id": None}, "missing event_id"),
        ({"metric_type": "heart_rate"}, "metric_type must be one of"),
    ],
)
def test_a_malformed_day_total_is_refused(changes: dict[str, str | None], problem: str) -> None:
    with pytest.raises(MalformedEvent, match=problem):
        MetricDayTotal.from_fields(_fields(**changes))


def test_a_workout_event_is_not_a_day_total_nor_the_reverse() -> None:
    workout = WorkoutCompleted(
        "e1", USER, "w1", "running", dt.datetime(2026, 3, 14, 9, tzinfo=dt.UTC), 1, 2, 3, 4, 5, 6
    )
    assert WorkoutCompleted.from_fields(workout.to_fields()) == workout
    with pytest.raises(MalformedEvent):
        MetricDayTotal.from_fields(workout.to_fields())
    with pytest.raises(MalformedEvent):
        WorkoutCompleted.from_fields(_fields())
    naive = {**workout.to_fields(), "ended_at": "2026-03-14T09:00:00"}
    with pytest.raises(MalformedEvent, match="ended_at has no time zone"):
        WorkoutCompleted.from_fields(naive)


GOAL = DailyGoal(
    target_value=10_000,
    current_progress=6000,
    first_day=DAY,
    target_date=DAY + dt.timedelta(days=6),
)


@pytest.mark.parametrize(
    ("day", "total", "after"),
    [
        # The best day counts, not the sum of days: a lower day leaves progress as it is.
        (DAY + dt.timedelta(days=1), 4000, DailyProgress(6000, False)),
        (DAY + dt.timedelta(days=1), 8000, DailyProgress(8000, False)),
        # A total met exactly achieves it; the creation day and the target date count.
        (DAY, 10_000, DailyProgress(10_000, True)),
        (DAY + dt.timedelta(days=6), 10_000, DailyProgress(10_000, True)),
        (DAY + dt.timedelta(days=3), 9999.5, DailyProgress(9999.5, False)),
        (DAY + dt.timedelta(days=3), 25_000, DailyProgress(25_000, True)),
        # Days before the goal was made or after its target date do not touch it.
        (DAY - dt.timedelta(days=1), 50_000, None),
        (DAY + dt.timedelta(days=7), 50_000, None),
    ],
)
def test_a_day_total_moves_a_daily_goal(
    day: dt.date, total: float, after: DailyProgress | None
) -> None:
    assert daily_progress(GOAL, day, total) == after


def test_the_same_total_twice_or_late_never_doubles_or_lowers() -> None:
    goal = GOAL
    for total in (7000, 7000, 6500, 7000):  # a repeat, then an older, lower total
        after = daily_progress(goal, DAY + dt.timedelta(days=2), total)
        assert after is not None
        goal = DailyGoal(
            goal.target_value, after.current_progress, goal.first_day, goal.target_date
        )
    assert goal.current_progress == 7000


@pytest.mark.parametrize(
    ("goal_type", "target", "fine"),
    [
        ("daily_steps", 100_000, True),
        ("daily_steps", 100_001, False),
        ("daily_sleep_minutes", 1440, True),
        ("daily_sleep_minutes", 1441, False),
        ("daily_water_ml", 10_000, True),
        ("daily_water_ml", 10_001, False),
        ("calories", 1_000_000, True),
        ("calories", 1_000_001, False),
        (None, 1_000_000, True),
        ("daily_steps", 0, False),
    ],
)
def test_daily_targets_have_their_own_limits(
    goal_type: str | None, target: float, fine: bool
) -> None:
    v = Violations()
    rules.check_goal_target(v, target, goal_type)
    if fine:
        v.raise_if_any()
    else:
        with pytest.raises(InvalidArgument):
            v.raise_if_any()


def test_every_goal_type_of_the_contract_is_known() -> None:
    assert set(rules.GOAL_TYPES) == set(enum_names(spb.GoalType))
    assert set(rules.DAILY_GOAL_METRICS.values()) == set(DAY_TOTAL_METRICS)
    assert set(rules.DAILY_GOAL_METRICS) == set(DAILY_GOAL_TYPES)
