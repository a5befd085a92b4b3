"""The weekly activity score in one call, read from the week's bucket and scored by the
scoring service's rules; and the most workouts one ISO week keeps."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from activity_service import history, weeks
from activity_service.store import Doc, Store
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.status import field_violations
from tests.helpers import log_workout, rpc_error

Stub = activity_pb2_grpc.ActivityServiceStub
MONDAY = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)  # 2026-W06


async def test_the_score_is_the_scoring_services_score_of_the_weeks_workouts(
    activity_stub: Stub, scoring_stub: scoring_pb2_grpc.ScoringServiceStub
) -> None:
    user_id = str(uuid.uuid4())
    week = [
        await log_workout(activity_stub, user_id, MONDAY, 10, spb.WORKOUT_TYPE_RUNNING),
        await log_workout(
            activity_stub, user_id, MONDAY + dt.timedelta(days=2), 45, spb.WORKOUT_TYPE_STRENGTH
        ),
        await log_workout(
            activity_stub, user_id, MONDAY + dt.timedelta(days=4), 40, spb.WORKOUT_TYPE_STRENGTH
        ),
        await log_workout(
            activity_stub,
            user_id,
            MONDAY + dt.timedelta(days=7) - dt.timedelta(minutes=30),
            20,
            spb.WORKOUT_TYPE_WALKING,
        ),
    ]
    # Just outside the week on either side.
    await log_workout(
        activity_stub, user_id, MONDAY - dt.timedelta(minutes=30), 20, spb.WORKOUT_TYPE_RUNNING
    )
    await log_workout(
        activity_stub, user_id, MONDAY + dt.timedelta(days=7), 20, spb.WORKOUT_TYPE_RUNNING
    )
    reply = await activity_stub.GetActivityScore(
        pb.GetActivityScoreRequest(user_id=user_id, week="2026-W06"), timeout=10
    )
    expected = await scoring_stub.ScoreWeek(
        spb.ScoreWeekRequest(
            workouts=[
                spb.ScoredWorkout(
                    workout_type=w.workout_type,
                    start_time=w.start_time,
                    moderate_minutes=w.score.moderate_minutes,
                    vigorous_minutes=w.score.vigorous_minutes,
                )
                for w in week
            ]
        ),
        timeout=10,
    )
    assert reply.week == "2026-W06"
    assert reply.workouts == 4
    assert reply.score == expected
    assert reply.score.strength_days == 2
    assert reply.score.intensity_minutes == pytest.approx(
        sum(w.score.intensity_minutes for w in week)
    )


async def test_no_week_means_the_current_one(activity_stub: Stub) -> None:
    user_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    monday, _ = weeks.bounds(weeks.name(now))
    await log_workout(
        activity_stub,
        user_id,
        max(monday, now - dt.timedelta(minutes=2)),
        0.5,
        spb.WORKOUT_TYPE_HIIT,
    )
    reply = await activity_stub.GetActivityScore(
        pb.GetActivityScoreRequest(user_id=user_id), timeout=10
    )
    assert (reply.week, reply.workouts) == (weeks.name(now), 1)
    assert reply.score.intensity_minutes == 1.0  # 30 s of vigorous work, doubled
    empty = await activity_stub.GetActivityScore(
        pb.GetActivityScoreRequest(user_id=user_id, week="2020-W10"), timeout=10
    )
    assert (empty.workouts, empty.score.score) == (0, 0.0)


@pytest.mark.parametrize(
    "week", ["2026-W99", "9999-W52", "abc", "2026-W00", "2026-W5", "0000-W01", "2026-w05"]
)
async def test_a_week_that_is_not_one_is_refused(activity_stub: Stub, week: str) -> None:
    error = await rpc_error(
        activity_stub.GetActivityScore(
            pb.GetActivityScoreRequest(user_id="someone", week=week), timeout=10
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == {"week"}


@pytest_asyncio.fixture
async def store(mongo: Server, activity_service_env: dict[str, str]) -> AsyncIterator[Store]:
    """The activity service's own database, to fill a week faster than through the API."""
    found = Store(mongo.url, activity_service_env["MONGODB_DATABASE"])
    yield found
    await found.stop()


async def fill(store: Store, template: Doc, user_id: str, week: str, count: int) -> None:
    monday, _ = weeks.bounds(week)
    docs = []
    for n in range(count):
        workout_id = str(uuid.uuid4())
        start = monday + dt.timedelta(minutes=5 * n)
        end = start + dt.timedelta(seconds=template["duration_seconds"])
        docs.append(
            {
                **template,
                "_id": workout_id,
                "user_id": user_id,
                "start_time": start,
                "end_time": end,
            }
        )
    await store.insert_workouts(docs)
    await history.record_many(store, docs)


async def test_a_week_keeps_at_most_1000_workouts(activity_stub: Stub, store: Store) -> None:
    user_id = str(uuid.uuid4())
    first = await log_workout(activity_stub, user_id, MONDAY, 20, spb.WORKOUT_TYPE_RUNNING)
    template = await store.workout(first.workout_id)
    assert template is not None
    await fill(store, template, user_id, "2026-W06", history.MAX_WEEK - 1)

    error = await rpc_error(
        log_workout(
            activity_stub, user_id, MONDAY + dt.timedelta(days=6), 20, spb.WORKOUT_TYPE_YOGA
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [v.field for v in field_violations(error)] == ["start_time"]
    assert "2026-W06" in (error.details() or "")
    await log_workout(
        activity_stub, user_id, MONDAY - dt.timedelta(days=1), 20, spb.WORKOUT_TYPE_YOGA
    )  # another week

    # The current week: its last place goes to the running workout, which ends there.
    now = dt.datetime.now(dt.UTC)
    current = weeks.name(now)
    await fill(store, template, user_id, current, history.MAX_WEEK - 1)
    started = await activity_stub.StartWorkout(
        pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_ROWING), timeout=10
    )
    monday, _ = weeks.bounds(current)
    error = await rpc_error(log_workout(activity_stub, user_id, monday, 1, spb.WORKOUT_TYPE_YOGA))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    ended = await activity_stub.EndWorkout(
        pb.EndWorkoutRequest(user_id=user_id, workout_id=started.workout.workout_id), timeout=10
    )
    assert ended.workout.status == pb.WORKOUT_STATUS_COMPLETED
    error = await rpc_error(
        activity_stub.StartWorkout(
            pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_ROWING),
            timeout=10,
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [v.field for v in field_violations(error)] == ["user_id"]
    full = await activity_stub.GetActivityScore(
        pb.GetActivityScoreRequest(user_id=user_id), timeout=10
    )
    assert full.workouts == history.MAX_WEEK
