"""Pure parts of delivery: stream entries as webhook events, what an attempt leaves its
delivery as, and how long a delivery waits for a receiver's slot."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from servicekit.events import (
    GOALS_STREAM,
    HEALTH_STREAM,
    WORKOUTS_STREAM,
    GoalAchieved,
    ImportFinished,
    MalformedEvent,
    MetricDayTotal,
    WorkoutDeleted,
    WorkoutUpdated,
    revision_event_id,
)
from tests.helpers import workout_event
from user_service import webhook_slots
from user_service.webhook_dispatch import webhook_event
from user_service.webhook_http import Answer
from user_service.webhook_rules import RetryPolicy
from user_service.webhook_sender import outcome
from user_service.webhook_slots import Slots

USER = str(uuid.uuid4())
ENTRY = "1767225600000-0"  # 2026-01-01T00:00:00Z
NOW = dt.datetime.now(dt.UTC)


def test_a_workout_event_becomes_workout_completed() -> None:
    workout = workout_event(USER, "e1")
    event = webhook_event(WORKOUTS_STREAM, ENTRY, workout.to_fields())
    assert (event.event_id, event.event_type, str(event.user_id)) == (
        "e1",
        "workout.completed",
        USER,
    )
    assert event.payload["type"] == "workout.completed"
    assert event.payload["timestamp"] == "2026-01-01T00:00:00+00:00"
    data = event.payload["data"]
    assert data["workout_id"] == workout.workout_id
    assert data["ended_at"] == workout.ended_at.astimezone(dt.UTC).isoformat()
    assert "event_id" not in data
    json.dumps(event.payload)  # it goes on the wire as it is


def test_workout_changes_and_imports_keep_their_types() -> None:
    ended = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    updated = WorkoutUpdated(
        revision_event_id("w1", 2), USER, "w1", "cycling", ended, 3600, 500, 0, 60, 120, 0, 2
    )
    deleted = WorkoutDeleted(revision_event_id("w1", 3), USER, "w1", 3, ended)
    done = ImportFinished.of(USER, "i1", "done", "w1", "", ended)
    events = [
        webhook_event(WORKOUTS_STREAM, ENTRY, e.to_fields()) for e in (updated, deleted, done)
    ]
    assert [(e.event_type, e.event_id) for e in events] == [
        ("workout.updated", "w1@2"),
        ("workout.deleted", "w1@3"),
        ("import.finished", done.event_id),
    ]
    assert events[0].payload["data"]["version"] == 2
    assert events[0].payload["data"]["workout_type"] == "cycling"
    assert events[1].payload["data"] == {
        "user_id": USER,
        "workout_id": "w1",
        "version": 3,
        "deleted_at": "2026-01-01T09:00:00+00:00",
    }
    assert events[2].payload["data"] == {
        "user_id": USER,
        "import_id": "i1",
        "status": "done",
        "workout_id": "w1",
        "error": "",
        "finished_at": "2026-01-01T09:00:00+00:00",
    }


def test_an_import_names_its_callback_for_routing_not_in_its_data() -> None:
    callback = uuid.uuid4()
    ended = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    done = ImportFinished.of(USER, "i1", "done", "w1", "", ended, str(callback))
    event = webhook_event(WORKOUTS_STREAM, ENTRY, done.to_fields())
    assert event.callback_id == callback
    assert "callback_id" not in event.payload["data"]
    # The same end with or without a callback is one event (one webhook-id).
    assert event.event_id == ImportFinished.of(USER, "i1", "done", "w1", "", ended).event_id
    # An entry from before callbacks existed has none; one naming no id still reaches
    # the user's subscriptions.
    old = {k: v for k, v in done.to_fields().items() if k != "callback_id"}
    assert webhook_event(WORKOUTS_STREAM, ENTRY, old).callback_id is None
    bad = {**done.to_fields(), "callback_id": "not-an-id"}
    assert webhook_event(WORKOUTS_STREAM, ENTRY, bad).callback_id is None
    assert ImportFinished.from_fields(old).callback_id == ""


def test_a_day_total_becomes_metric_recorded() -> None:
    total = MetricDayTotal.of(USER, "water_ml", dt.date(2026, 1, 2), 1750)
    event = webhook_event(HEALTH_STREAM, ENTRY, total.to_fields())
    assert event.event_type == "metric.recorded"
    assert event.event_id == total.event_id
    assert event.payload["data"] == {
        "user_id": USER,
        "metric_type": "water_ml",
        "day": "2026-01-02",
        "total": 1750.0,
    }


def test_a_goal_alert_becomes_goal_achieved_with_the_alert_id() -> None:
    goal = {"goal_id": "g1", "user_id": USER, "status": "achieved"}
    alert = GoalAchieved("n1", USER, json.dumps(goal))
    event = webhook_event(GOALS_STREAM, ENTRY, alert.to_fields())
    assert (event.event_id, event.event_type) == ("n1", "goal.achieved")
    assert event.payload["data"] == goal


@pytest.mark.parametrize(
    ("stream", "fields"),
    [
        (WORKOUTS_STREAM, {"type": "workout.completed"}),
        (GOALS_STREAM, {"type": "goal.achieved", "event_id": "n", "user_id": USER, "goal": "[1]"}),
        (GOALS_STREAM, {"type": "goal.achieved", "event_id": "n", "user_id": "me", "goal": "{}"}),
        (HEALTH_STREAM, {"type": "workout.completed"}),
    ],
)
def test_malformed_entries_are_refused(stream: str, fields: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        webhook_event(stream, ENTRY, fields)


POLICY = RetryPolicy(1, 10, 60, max_attempts=3, horizon_seconds=3600)


def row(round_attempts: int = 0) -> dict[str, object]:
    return {"round_attempts": round_attempts, "round_started_at": NOW}


@pytest.mark.parametrize(
    ("answer", "attempts_before", "status"),
    [
        (Answer(204, 5), 0, "delivered"),
        (Answer(410, 5, "HTTP 410"), 0, "failed"),
        (Answer(302, 5, "HTTP 302"), 0, "failed"),
        (Answer(None, 5, "10.0.0.1 is a private address", refused=True), 0, "failed"),
        (Answer(503, 5, "HTTP 503"), 0, "pending"),
        (Answer(None, 2000, "timed out"), 1, "pending"),
        (Answer(503, 5, "HTTP 503"), 2, "dead"),  # the third of three attempts
        (Answer(429, 5, "HTTP 429", retry_after="7200"), 0, "pending"),  # capped at 60 s
    ],
)
def test_where_an_attempt_leaves_its_delivery(
    answer: Answer, attempts_before: int, status: str
) -> None:
    result = outcome(row(attempts_before), answer, NOW, POLICY)
    assert result.status == status
    assert (result.next_at is not None) == (status == "pending")
    assert result.error == answer.error
    if answer.retry_after:
        assert result.next_at is not None
        assert result.next_at - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=60)


def test_slots_are_per_destination_and_freed() -> None:
    slots = Slots(per_destination=2)
    with slots.taken("a:443"), slots.taken("a:443"):
        assert slots.full("a:443")
        assert not slots.full("b:443")
    assert not slots.full("a:443")
    assert slots.busy == {}


def test_a_slot_is_waited_for_about_one_attempt_of_that_receiver() -> None:
    slots = Slots(per_destination=1)
    first = slots.wait("new:443")
    assert webhook_slots.FIRST_WAIT <= first <= 2 * webhook_slots.FIRST_WAIT
    for _ in range(30):
        slots.observe("fast:443", 0.002)
        slots.observe("hung:443", 30)
    fast, hung = slots.wait("fast:443"), slots.wait("hung:443")
    assert webhook_slots.SHORTEST_WAIT <= fast <= 2 * webhook_slots.SHORTEST_WAIT
    assert webhook_slots.LONGEST_WAIT <= hung <= 2 * webhook_slots.LONGEST_WAIT


def test_where_a_delivery_goes_is_remembered() -> None:
    slots = Slots(per_destination=1)
    delivery = uuid.uuid4()
    assert slots.destination_of(delivery) is None
    slots.remember(delivery, "a:443")
    assert slots.destination_of(delivery) == "a:443"
