"""The pure parts of editing and deleting workouts: the change events as they travel on the
stream, what an edit makes of a workout, the difference it makes to the running totals,
the If-Match a change needs, and a goal's progress from its workouts in order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from activity_service import history, rules, weeks
from gateway.audit import MARK, Audited
from gateway.errors import ApiError
from gateway.etags import etag, expected_versions
from gateway.routes.workouts import delete_workout, edit_workout
from servicekit.errors import Violations
from servicekit.events import (
    MalformedEvent,
    WorkoutCompleted,
    WorkoutDeleted,
    WorkoutUpdated,
    decode_workout_event,
)
from user_service.rules import replay, workout_goal_status

AT = dt.datetime(2026, 3, 11, 7, 0, tzinfo=dt.UTC)  # a Wednesday
USER = "0b6c4f6e-5f0e-4d6c-9c39-8d1f7f3b1a2e"


def completed(**values: Any) -> WorkoutCompleted:
    figures = {
        "duration": 1800.0,
        "calories_burned": 300.0,
        "moderate_minutes": 0.0,
        "vigorous_minutes": 30.0,
        "intensity_minutes": 60.0,
        "distance_m": 5000.0,
    } | values
    return WorkoutCompleted("w1", USER, "w1", "running", AT, **figures)


def test_change_events_survive_the_stream_and_older_completions_read_as_version_one() -> None:
    updated = WorkoutUpdated(**{**completed().__dict__, "event_id": "w1@2", "version": 2})
    deleted = WorkoutDeleted("w1@3", USER, "w1", 3, AT)
    for event in (completed(), updated, deleted):
        assert decode_workout_event(event.to_fields()) == event
    assert updated.to_fields()["type"] == "workout.updated"
    assert type(decode_workout_event(updated.to_fields())) is WorkoutUpdated
    written_before_versions = {k: v for k, v in completed().to_fields().items() if k != "version"}
    assert decode_workout_event(written_before_versions).version == 1
    with pytest.raises(MalformedEvent, match="version"):
        decode_workout_event({**deleted.to_fields(), "version": "0"})
    with pytest.raises(MalformedEvent, match="not a workout event"):
        decode_workout_event({**deleted.to_fields(), "type": "workout.renamed"})


def stored(**values: Any) -> dict[str, Any]:
    return {
        "_id": "w1",
        "user_id": USER,
        "workout_type": "running",
        "status": "completed",
        "start_time": AT,
        "end_time": AT + dt.timedelta(minutes=30),
        "duration_seconds": 1800.0,
        "distance_m": 5000.0,
        "score_status": "scored",
        "score": {"calories_burned": 300.0, "intensity_minutes": 60.0},
    } | values


def test_an_edit_is_checked_as_a_log_and_derives_its_duration() -> None:
    now = AT + dt.timedelta(days=1)
    v = Violations()
    after = rules.edited(v, stored(), {"end_time": AT + dt.timedelta(minutes=45)}, now)
    v.raise_if_any()
    assert (after["duration_seconds"], after["distance_m"]) == (2700.0, 5000.0)
    assert not rules.unchanged(stored(), after)
    assert rules.unchanged(stored(), rules.edited(Violations(), stored(), {}, now))
    v = Violations()
    rules.edited(v, stored(), {"start_time": AT + dt.timedelta(hours=1), "avg_heart_rate": 10}, now)
    with pytest.raises(Exception, match="end_time, avg_heart_rate"):
        v.raise_if_any()
    assert rules.version_of(stored()) == 1
    assert rules.version_of(stored(version=4)) == 4


def test_the_difference_of_an_edit_moves_sums_and_weeks_by_exactly_the_change() -> None:
    later = AT + dt.timedelta(weeks=1)
    after = stored(workout_type="cycling", start_time=later, duration_seconds=2700.0)
    after["score"] = {"calories_burned": 420.0, "intensity_minutes": 45.0}
    change = history.difference(stored(), after)
    assert change.sums["total_workouts"] == 0  # dropped: nothing moves
    assert "total_workouts" not in change.sums
    assert change.sums["total_duration_seconds"] == 900.0
    assert change.sums["total_calories_burned"] == 120.0
    assert change.sums["by_type.running.total_workouts"] == -1
    assert change.sums["by_type.cycling.total_calories_burned"] == 420.0
    assert change.weeks == {weeks.name(later)}
    update = change.increment({"revising.w1@2": True})
    assert update["$set"] == {"revising.w1@2": True}
    gone = history.difference(stored(), None).increment()
    assert "$bit" not in gone  # a deletion adds no week
    assert gone["$inc"]["total_workouts"] == -1


def test_if_match_is_required_and_names_versions() -> None:
    assert etag(3) == '"3"'
    assert expected_versions("*") == []
    assert expected_versions('"2", W/"5", "3"') == [2, 3]
    for header, status in ((None, 428), ("  ", 428), ('W/"2"', 412), ("2", 412), ('"0"', 412)):
        with pytest.raises(ApiError) as refused:
            expected_versions(header)
        assert refused.value.status == status, header
    with pytest.raises(ApiError) as refused:
        expected_versions(", ".join(f'"{n}"' for n in range(1, 18)))
    assert refused.value.status == 400
    with pytest.raises(ApiError):
        expected_versions('"9999999999999999999999"')  # past what a version can be


def test_a_goal_counts_its_workouts_in_order_until_reached() -> None:
    assert replay(3, 0, [1, 1, 1, 1]) == (3, True)  # the fourth came after it was achieved
    assert replay(3, 0, [1, 1]) == (2, False)
    assert replay(100, 0, [60, 50, 30]) == (110, True)
    assert replay(100, 0, [60, 30]) == (90, False)  # the 50 taken back: the 30 counts now
    assert replay(10, 12, [5]) == (12, True)  # progress from before contributions were kept
    # Each step rounds to 4 places, as the scoring service's EvaluateGoals does.
    assert replay(1, 0, [0.33334, 0.33334, 0.33334]) == (0.9999, False)


def test_a_goal_stops_being_achieved_when_its_workouts_fall_short() -> None:
    assert workout_goal_status("achieved", reached=False, after_target_date=False) == "active"
    assert workout_goal_status("active", reached=True, after_target_date=False) == "achieved"
    assert workout_goal_status("active", reached=False, after_target_date=True) == "expired"
    assert workout_goal_status("expired", reached=False, after_target_date=False) == "expired"


def test_changes_of_a_workout_are_audited() -> None:
    assert getattr(edit_workout, MARK) == Audited("update", "workout:{session_id}")
    assert getattr(delete_workout, MARK) == Audited("delete", "workout:{session_id}")
