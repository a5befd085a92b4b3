"""The activity service as a real process on a MongoDB wire-protocol server, Redis and
the scoring service."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.errors import IdempotencyKeyReused
from servicekit.status import field_violations, reason
from tests.clock import Clock
from tests.helpers import log_workout, rpc_error

Stub = activity_pb2_grpc.ActivityServiceStub
TYPES = [
    spb.WORKOUT_TYPE_RUNNING,
    spb.WORKOUT_TYPE_WALKING,
    spb.WORKOUT_TYPE_YOGA,
    spb.WORKOUT_TYPE_HIIT,
    spb.WORKOUT_TYPE_CYCLING,
]


def ts(at: dt.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def user() -> str:
    return str(uuid.uuid4())


async def test_twenty_concurrent_starts_leave_one_active_workout(activity_stub: Stub) -> None:
    user_id = user()
    request = pb.StartWorkoutRequest(user_id=user_id, workout_type=spb.WORKOUT_TYPE_RUNNING)
    results = await asyncio.gather(
        *(activity_stub.StartWorkout(request, timeout=10) for _ in range(20)),
        return_exceptions=True,
    )
    started = [r for r in results if isinstance(r, pb.StartWorkoutResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(started) == 1
    assert len(refused) == 19
    active_id = started[0].workout.workout_id
    assert {e.code() for e in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert all(active_id in (e.details() or "") for e in refused)
    listed = await activity_stub.ListWorkouts(pb.ListWorkoutsRequest(user_id=user_id), timeout=10)
    assert [w.status for w in listed.workouts] == [pb.WORKOUT_STATUS_ACTIVE]


async def test_end_scores_by_the_rules_and_counts_once(
    activity_stub: Stub, scoring_stub: scoring_pb2_grpc.ScoringServiceStub
) -> None:
    user_id = user()
    athlete = spb.Athlete(weight_kg=82, resting_heart_rate=55, max_heart_rate=190, age_years=35)
    started = await activity_stub.StartWorkout(
        pb.StartWorkoutRequest(
            user_id=user_id, workout_type=spb.WORKOUT_TYPE_CYCLING, athlete=athlete
        ),
        timeout=10,
    )
    assert started.workout.athlete == athlete
    await asyncio.sleep(1.2)
    end = pb.EndWorkoutRequest(
        user_id=user_id, workout_id=started.workout.workout_id, avg_heart_rate=150, distance_m=12
    )
    ended = (await activity_stub.EndWorkout(end, timeout=10)).workout
    assert ended.status == pb.WORKOUT_STATUS_COMPLETED
    assert ended.score_status == pb.SCORE_STATUS_SCORED
    assert 1.2 <= ended.duration_seconds < 10
    expected = await scoring_stub.ScoreWorkout(
        spb.ScoreWorkoutRequest(
            workout_type=spb.WORKOUT_TYPE_CYCLING,
            duration_seconds=ended.duration_seconds,
            avg_heart_rate=150,
            distance_m=12,
            athlete=athlete,
        ),
        timeout=10,
    )
    assert ended.score == expected.score
    assert ended.score.intensity == spb.INTENSITY_VIGOROUS  # (150-55)/(190-55) = 70 % of reserve

    again = (await activity_stub.EndWorkout(end, timeout=10)).workout
    assert again == ended
    stats = (await activity_stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id))).statistics
    assert stats.total_workouts == 1
    assert stats.total_calories_burned == ended.score.calories_burned


async def test_log_workout_gives_the_worked_example(activity_stub: Stub, clock: Clock) -> None:
    workout = await log_workout(activity_stub, user(), clock.now - dt.timedelta(hours=2), 10)
    assert workout.duration_seconds == 600
    assert (workout.score.intensity_minutes, workout.score.calories_burned) == (20, 114.33)


@pytest.mark.parametrize(
    ("start_offset", "minutes", "kind", "fields"),
    [
        (-2, -10, spb.WORKOUT_TYPE_RUNNING, {"end_time"}),  # ends before it starts
        (-30, 25 * 60, spb.WORKOUT_TYPE_RUNNING, {"end_time"}),  # longer than 24 h
        (1, 30, spb.WORKOUT_TYPE_RUNNING, {"end_time"}),  # in the future
        (-2, 30, 999, {"workout_type"}),
        (-2, 30, spb.WORKOUT_TYPE_UNSPECIFIED, {"workout_type"}),
    ],
)
async def test_log_workout_refuses_bad_input(
    activity_stub: Stub,
    start_offset: float,
    minutes: float,
    kind: Any,
    fields: set[str],
    clock: Clock,
) -> None:
    error = await rpc_error(
        log_workout(
            activity_stub, user(), clock.now + dt.timedelta(hours=start_offset), minutes, kind
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == fields


async def test_log_workout_checks_measurements_and_athlete(
    activity_stub: Stub, clock: Clock
) -> None:
    error = await rpc_error(
        log_workout(
            activity_stub,
            user(),
            clock.now - dt.timedelta(hours=1),
            20,
            avg_heart_rate=400,
            distance_m=-5,
            athlete=spb.Athlete(weight_kg=1000),
        )
    )
    assert {v.field for v in field_violations(error)} == {
        "avg_heart_rate",
        "distance_m",
        "athlete.weight_kg",
    }


async def test_statistics_match_one_hundred_random_workouts(
    activity_stub: Stub, clock: Clock
) -> None:
    user_id, rng = user(), random.Random(7)
    logged = []
    for i in range(100):
        start = clock.now - dt.timedelta(days=rng.uniform(0.1, 20), minutes=i)
        kind = rng.choice(TYPES)
        logged.append(await log_workout(activity_stub, user_id, start, rng.uniform(5, 120), kind))
    stats = (await activity_stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id))).statistics
    assert stats.total_workouts == 100
    assert stats.total_duration_seconds == pytest.approx(sum(w.duration_seconds for w in logged))
    assert stats.total_calories_burned == pytest.approx(
        sum(w.score.calories_burned for w in logged), abs=0.01
    )
    assert stats.average_session_duration_seconds == pytest.approx(
        stats.total_duration_seconds / 100, abs=0.01
    )
    by_type: dict[int, list[pb.Workout]] = defaultdict(list)
    for w in logged:
        by_type[w.workout_type].append(w)
    assert {t.workout_type: t.total_workouts for t in stats.by_type} == {
        k: len(v) for k, v in by_type.items()
    }
    week = clock.now.isocalendar()[:2]
    this_week = [w for w in logged if w.start_time.ToDatetime(dt.UTC).isocalendar()[:2] == week]
    assert stats.current_week.total_workouts == len(this_week)
    assert stats.current_week.intensity_minutes == pytest.approx(
        sum(w.score.intensity_minutes for w in this_week), abs=0.01
    )


async def test_pagination_sees_every_workout_once_while_others_are_added(
    activity_stub: Stub,
    clock: Clock,
) -> None:
    user_id = user()
    base = clock.now - dt.timedelta(days=3)
    original = {
        (
            await log_workout(activity_stub, user_id, base + dt.timedelta(minutes=7 * i), 5)
        ).workout_id
        for i in range(45)
    }
    # Some share a start time, so the page token must break ties by id.
    for _ in range(5):
        original.add(
            (
                await log_workout(activity_stub, user_id, base + dt.timedelta(minutes=70), 5)
            ).workout_id
        )
    seen: list[str] = []
    token, added = "", 0
    while True:
        page = await activity_stub.ListWorkouts(
            pb.ListWorkoutsRequest(user_id=user_id, page_size=7, page_token=token), timeout=10
        )
        seen += [w.workout_id for w in page.workouts]
        starts = [w.start_time.ToDatetime() for w in page.workouts]
        assert starts == sorted(starts, reverse=True)
        # Insert while paging: newer ones (ahead of the cursor) and older ones (behind it).
        await log_workout(
            activity_stub, user_id, clock.now - dt.timedelta(hours=1, minutes=added), 5
        )
        await log_workout(activity_stub, user_id, base - dt.timedelta(days=1, minutes=added), 5)
        added += 1
        token = page.next_page_token
        if not token:
            break
    counts = Counter(seen)
    assert not [k for k, n in counts.items() if n > 1], "a workout was listed twice"
    assert original <= set(seen), "a workout was skipped"


async def test_list_filters_by_time_and_type(activity_stub: Stub, clock: Clock) -> None:
    user_id = user()
    day = clock.now - dt.timedelta(days=2)
    await log_workout(activity_stub, user_id, day, 30, spb.WORKOUT_TYPE_YOGA)
    await log_workout(
        activity_stub, user_id, day + dt.timedelta(hours=2), 30, spb.WORKOUT_TYPE_RUNNING
    )
    await log_workout(
        activity_stub, user_id, day + dt.timedelta(hours=4), 30, spb.WORKOUT_TYPE_RUNNING
    )
    reply = await activity_stub.ListWorkouts(
        pb.ListWorkoutsRequest(
            user_id=user_id,
            workout_type=spb.WORKOUT_TYPE_RUNNING,
            from_time=ts(day + dt.timedelta(hours=1)),
            to_time=ts(day + dt.timedelta(hours=3)),
        ),
        timeout=10,
    )
    assert [(w.workout_type, w.start_time.ToDatetime(dt.UTC)) for w in reply.workouts] == [
        (
            spb.WORKOUT_TYPE_RUNNING,
            (day + dt.timedelta(hours=2)).replace(microsecond=day.microsecond // 1000 * 1000),
        )
    ]


async def test_another_users_workout_is_not_found(activity_stub: Stub, clock: Clock) -> None:
    workout = await log_workout(activity_stub, user(), clock.now - dt.timedelta(hours=3), 15)
    error = await rpc_error(
        activity_stub.GetWorkout(
            pb.GetWorkoutRequest(user_id=user(), workout_id=workout.workout_id)
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_an_id_holding_a_nul_is_refused_naming_it(activity_stub: Stub) -> None:
    # No stored id holds one, and a database may not take one in a query (FerretDB on
    # PostgreSQL keeps documents as JSONB): refused before any lookup.
    for request in (
        pb.GetWorkoutRequest(user_id=user(), workout_id="no\x00such"),
        pb.GetWorkoutRequest(user_id="no\x00one", workout_id=str(uuid.uuid4())),
    ):
        error = await rpc_error(activity_stub.GetWorkout(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        named = [v.field for v in field_violations(error)]
        assert named == ["workout_id" if request.workout_id.startswith("no") else "user_id"]


async def test_group_session_archive_round_trip(activity_stub: Stub, clock: Clock) -> None:
    session = pb.GroupSession(
        session_id=uuid.uuid4().hex,
        name="Sunday long run",
        owner_id="ada",
        workout_type=spb.WORKOUT_TYPE_RUNNING,
        member_ids=["ada", "bob"],
        messages=[
            pb.GroupMessage(user_id="bob", text=f"km {i}", sent_at=ts(clock.now)) for i in range(5)
        ],
        exercise_updates=[
            pb.ExerciseUpdate(user_id="ada", data_json='{"hr": 151}', sent_at=ts(clock.now))
        ],
        started_at=ts(clock.now - dt.timedelta(hours=1)),
        ended_at=ts(clock.now),
    )
    await activity_stub.SaveGroupSession(pb.SaveGroupSessionRequest(session=session), timeout=10)
    stored = await activity_stub.GetGroupSession(
        pb.GetGroupSessionRequest(session_id=session.session_id), timeout=10
    )
    assert [m.text for m in stored.session.messages] == [f"km {i}" for i in range(5)]
    assert stored.session.member_ids == ["ada", "bob"]
    assert stored.session.exercise_updates[0].data_json == '{"hr": 151}'
    bad = pb.GroupSession(
        session_id="x", owner_id="ada", messages=[pb.GroupMessage(user_id="ada", text="x" * 2001)]
    )
    error = await rpc_error(activity_stub.SaveGroupSession(pb.SaveGroupSessionRequest(session=bad)))
    assert {v.field for v in field_violations(error)} == {
        "session.messages[0].text",
        "session.started_at",
        "session.ended_at",
    }


async def test_repeated_requests_with_one_token_act_once(activity_stub: Stub, clock: Clock) -> None:
    user_id, token = user(), uuid.uuid4().hex
    start = pb.StartWorkoutRequest(
        user_id=user_id, workout_type=spb.WORKOUT_TYPE_YOGA, request_id=token
    )
    first, again = (
        await activity_stub.StartWorkout(start, timeout=10),
        await activity_stub.StartWorkout(start, timeout=10),
    )
    assert first.workout.workout_id == again.workout.workout_id
    other = user()
    began = clock.now - dt.timedelta(hours=5)
    log_request = pb.LogWorkoutRequest(
        user_id=other,
        workout_type=spb.WORKOUT_TYPE_RUNNING,
        start_time=ts(began),
        end_time=ts(began + dt.timedelta(minutes=30)),
        request_id=token,
    )
    results = await asyncio.gather(
        *(activity_stub.LogWorkout(log_request, timeout=10) for _ in range(5))
    )
    assert len({r.workout.workout_id for r in results}) == 1
    stats = await activity_stub.GetStatistics(pb.GetStatisticsRequest(user_id=other), timeout=10)
    assert stats.statistics.total_workouts == 1


async def test_a_repeated_token_with_another_fingerprint_is_refused(
    activity_stub: Stub, clock: Clock
) -> None:
    user_id, token = user(), uuid.uuid4().hex
    start = pb.StartWorkoutRequest(
        user_id=user_id,
        workout_type=spb.WORKOUT_TYPE_YOGA,
        request_id=token,
        request_fingerprint="first",
    )
    first = (await activity_stub.StartWorkout(start, timeout=10)).workout

    async def refused(call: Any) -> None:
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(error) == IdempotencyKeyReused.reason
        assert error.details() == "this idempotency key was used with a different request"

    other = pb.StartWorkoutRequest()
    other.CopyFrom(start)
    other.request_fingerprint = "second"
    await refused(activity_stub.StartWorkout(other, timeout=10))  # while it runs
    unmarked = pb.StartWorkoutRequest()
    unmarked.CopyFrom(start)
    unmarked.request_fingerprint = ""  # a caller that sends none is not compared
    assert (await activity_stub.StartWorkout(unmarked, timeout=10)).workout == first
    await asyncio.sleep(0.01)  # an end must come after the start, to the millisecond
    end = pb.EndWorkoutRequest(user_id=user_id, workout_id=first.workout_id)
    await activity_stub.EndWorkout(end, timeout=10)
    await refused(activity_stub.StartWorkout(other, timeout=10))  # after it ended
    again = (await activity_stub.StartWorkout(start, timeout=10)).workout
    assert again.workout_id == first.workout_id
    assert again.status == pb.WORKOUT_STATUS_COMPLETED

    began = clock.now - dt.timedelta(hours=5)
    log_request = pb.LogWorkoutRequest(
        user_id=user_id,
        workout_type=spb.WORKOUT_TYPE_RUNNING,
        start_time=ts(began),
        end_time=ts(began + dt.timedelta(minutes=30)),
        request_id=uuid.uuid4().hex,
        request_fingerprint="first",
    )
    logged = (await activity_stub.LogWorkout(log_request, timeout=10)).workout

    async def total() -> int:
        stats = pb.GetStatisticsRequest(user_id=user_id)
        return (await activity_stub.GetStatistics(stats, timeout=10)).statistics.total_workouts

    counted = await total()
    log_other = pb.LogWorkoutRequest()
    log_other.CopyFrom(log_request)
    log_other.request_fingerprint = "second"
    log_other.distance_m = 5000
    await refused(activity_stub.LogWorkout(log_other, timeout=10))
    assert (await activity_stub.LogWorkout(log_request, timeout=10)).workout == logged
    assert await total() == counted
    listed = await activity_stub.ListWorkouts(pb.ListWorkoutsRequest(user_id=user_id), timeout=10)
    assert len(listed.workouts) == 2  # the yoga and the run, each once
    long = pb.LogWorkoutRequest()
    long.CopyFrom(log_request)
    long.request_fingerprint = "f" * 129
    error = await rpc_error(activity_stub.LogWorkout(long, timeout=10))
    assert [v.field for v in field_violations(error)] == ["request_fingerprint"]
