"""ActivitySeries against the real service: workouts logged on a few days around a year's
end, asked for per day, week and month, with figures worked by hand from the scoring rules
(70 kg: running 9.8 MET and walking 3.5, rowing 7.0 whatever its distance); and what a
series costs, counted in MongoDB commands and documents."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
import pytest_asyncio

from activity_service import history, series
from activity_service.store import Doc, Store
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.protofields import timestamp
from servicekit.status import field_violations
from tests.helpers import log_workout, rpc_error
from tests.integration.test_activity_costs import Commands

Stub = activity_pb2_grpc.ActivityServiceStub
ATHLETE = spb.Athlete(weight_kg=70)
# workouts, active minutes, intensity minutes, score, distance, kcal
Figures = tuple[int, float, float, float, float, float]
EMPTY: Figures = (0, 0.0, 0.0, 0.0, 0.0, 0.0)


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


async def log_history(stub: Stub, user_id: str) -> None:
    """Around the turn of 2025 to 2026; ISO week 2026-W01 runs from Monday 2025-12-29."""
    walking, rowing, yoga = spb.WORKOUT_TYPE_WALKING, spb.WORKOUT_TYPE_ROWING, spb.WORKOUT_TYPE_YOGA
    logged = [
        # Before any range asked for below.
        (at(11, 10, 8, year=2025), 30, spb.WORKOUT_TYPE_RUNNING, {}),
        # 15 vigorous minutes: 30 intensity minutes, 9.8 x 70 x 0.25 = 171.5 kcal.
        (at(12, 3, 7, year=2025), 15, spb.WORKOUT_TYPE_RUNNING, {}),
        # 60 intensity minutes, 343 kcal.
        (at(12, 29, 7, year=2025), 30, spb.WORKOUT_TYPE_RUNNING, {}),
        # Moderate: 10 intensity minutes, 3.5 x 70 / 6 = 40.83 kcal; it ends on the 1st
        # but counts on the 31st, the day it started.
        (at(12, 31, 23, 55, year=2025), 10, walking, {}),
        # Vigorous: 40 intensity minutes, 7 x 70 / 3 = 163.33 kcal, 2 km.
        (at(1, 2, 18), 20, rowing, {"distance_m": 2000.0}),
        # Light: no intensity minutes, 2.5 x 70 x 0.75 = 131.25 kcal.
        (at(1, 13, 6), 45, yoga, {}),
    ]
    for start, minutes, kind, extra in logged:
        await log_workout(stub, user_id, start, minutes, kind, athlete=ATHLETE, **extra)


async def figures(
    stub: Stub, user_id: str, period: Any, since: dt.datetime, until: dt.datetime
) -> list[tuple[dt.datetime, Figures]]:
    reply = await stub.ActivitySeries(
        pb.ActivitySeriesRequest(
            user_id=user_id, period=period, since=timestamp(since), until=timestamp(until)
        ),
        timeout=10,
    )
    return [
        (
            p.start.ToDatetime(tzinfo=dt.UTC),
            (
                p.workouts,
                p.active_minutes,
                p.intensity_minutes,
                p.score,
                p.distance_m,
                p.calories_burned,
            ),
        )
        for p in reply.points
    ]


@pytest_asyncio.fixture(scope="module")
async def logged(activity_stub: Stub) -> str:
    """A user with the history above, beside another with the same (logged once a module)."""
    user_id = uuid.uuid4().hex
    await log_history(activity_stub, user_id)
    await log_history(activity_stub, uuid.uuid4().hex)
    return user_id


async def test_days_count_each_workout_on_the_day_it_started(
    activity_stub: Stub, logged: str
) -> None:
    days = await figures(activity_stub, logged, hpb.PERIOD_DAY, at(12, 29, year=2025), at(1, 4))
    # A day's target is 150 / 7 minutes: 60 and 40 are past it, 10 is 46.67 % of it.
    assert days == [
        (at(12, 29, year=2025), (1, 30.0, 60.0, 100.0, 0.0, 343.0)),
        (at(12, 30, year=2025), EMPTY),
        (at(12, 31, year=2025), (1, 10.0, 10.0, 46.67, 0.0, 40.83)),
        (at(1, 1), EMPTY),
        (at(1, 2), (1, 20.0, 40.0, 100.0, 2000.0, 163.33)),
        (at(1, 3), EMPTY),
    ]


async def test_iso_weeks_start_on_monday_across_the_years_end(
    activity_stub: Stub, logged: str
) -> None:
    # From a Wednesday: the first point is its week, from Monday 2025-12-29 (2026-W01).
    weeks = await figures(
        activity_stub, logged, hpb.PERIOD_WEEK, at(12, 31, 12, year=2025), at(1, 19)
    )
    assert weeks == [
        # 110 of the week's 150 intensity minutes: the weekly score.
        (at(12, 29, year=2025), (3, 60.0, 110.0, 73.33, 2000.0, 547.16)),
        (at(1, 5), EMPTY),
        (at(1, 12), (1, 45.0, 0.0, 0.0, 0.0, 131.25)),
    ]


async def test_months_are_whole_calendar_months(activity_stub: Stub, logged: str) -> None:
    # From the 15th: December's point is all of December, the 3rd's workout too.
    months = await figures(activity_stub, logged, hpb.PERIOD_MONTH, at(12, 15, year=2025), at(3, 1))
    assert months == [
        # 100 intensity minutes of December's 150 x 31 / 7 = 664.29: 15.05.
        (at(12, 1, year=2025), (3, 55.0, 100.0, 15.05, 0.0, 555.33)),
        # 40 of January's 664.29: 6.02.
        (at(1, 1), (2, 65.0, 40.0, 6.02, 2000.0, 294.58)),
        (at(2, 1), EMPTY),
    ]


async def test_a_user_without_workouts_gets_every_period_empty(activity_stub: Stub) -> None:
    days = await figures(activity_stub, uuid.uuid4().hex, hpb.PERIOD_DAY, at(1, 1), at(1, 4))
    assert days == [(at(1, 1), EMPTY), (at(1, 2), EMPTY), (at(1, 3), EMPTY)]


async def test_a_workout_waiting_for_its_score_has_minutes_but_no_intensity(
    mongo: Server, activity_service_env: dict[str, str], activity_stub: Stub
) -> None:
    user_id = uuid.uuid4().hex
    start = at(3, 4, 9)
    waiting = {
        "_id": str(uuid.uuid4()),
        "user_id": user_id,
        "workout_type": "running",
        "status": "completed",
        "start_time": start,
        "end_time": start + dt.timedelta(minutes=25),
        "duration_seconds": 1500.0,
        "distance_m": 4000.0,
        "athlete": {"weight_kg": 70},
        "score_status": "pending",
        "score": None,
    }
    store = Store(mongo.url, activity_service_env["MONGODB_DATABASE"])
    try:  # as an end or a log stores it while scoring is down
        await store.insert_workout(waiting)
        await history.record(store, waiting)
    finally:
        await store.stop()
    weeks = await figures(activity_stub, user_id, hpb.PERIOD_WEEK, at(3, 2), at(3, 9))
    assert weeks == [(at(3, 2), (1, 25.0, 0.0, 0.0, 4000.0, 0.0))]


async def test_a_range_spans_at_most_366_days(activity_stub: Stub) -> None:
    user_id = uuid.uuid4().hex
    leap_year = await figures(
        activity_stub, user_id, hpb.PERIOD_MONTH, at(3, 1), at(3, 2, year=2027)
    )
    assert len(leap_year) == 13
    too_long = at(3, 1) + dt.timedelta(days=366, seconds=1)
    error = await rpc_error(figures(activity_stub, user_id, hpb.PERIOD_DAY, at(3, 1), too_long))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("until", "must be at most 366 days after since")
    ]


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.ActivitySeriesRequest(), {"user_id", "period", "since", "until"}),
        (
            pb.ActivitySeriesRequest(
                user_id="u", period=hpb.PERIOD_WEEK, since=timestamp(at(3, 2))
            ),
            {"until"},
        ),
        (
            pb.ActivitySeriesRequest(
                user_id="u",
                period=9,  # type: ignore[arg-type]  # no such period
                since=timestamp(at(3, 9)),
                until=timestamp(at(3, 2)),
            ),
            {"period", "until"},
        ),
    ],
)
async def test_invalid_requests_name_their_fields(
    activity_stub: Stub, request_: pb.ActivitySeriesRequest, fields: set[str]
) -> None:
    error = await rpc_error(activity_stub.ActivitySeries(request_, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == fields


# What a series costs.

STEP = dt.timedelta(hours=4)  # 42 workouts a week
RANGE = (at(6, 1), at(6, 29))  # four ISO weeks, Monday to Monday


async def seed(
    store: Store, user: str, template: Doc, since: dt.datetime, until: dt.datetime
) -> int:
    """Workouts every STEP over [since, until), written as a bulk load writes them."""
    docs = []
    start = since
    while start < until:
        workout_id = str(uuid.uuid4())
        docs.append(
            {
                **template,
                "_id": workout_id,
                "user_id": user,
                "active_key": f"done:{workout_id}",
                "start_time": start,
                "end_time": start + dt.timedelta(seconds=template["duration_seconds"]),
            }
        )
        start += STEP
    for batch in range(0, len(docs), 500):
        await store.insert_workouts(docs[batch : batch + 500])
        await history.record_many(store, docs[batch : batch + 500])
    return len(docs)


async def test_a_series_costs_the_same_however_long_the_history_around_it(
    mongo: Server, activity_service_env: dict[str, str], activity_stub: Stub
) -> None:
    listener = Commands()
    store = Store(mongo.url, activity_service_env["MONGODB_DATABASE"], [listener])
    try:
        first = await log_workout(activity_stub, uuid.uuid4().hex, at(5, 1), 30, athlete=ATHLETE)
        template = await store.workout(first.workout_id)
        assert template is not None
        # One user has workouts in the range only; the other the same and a year and a
        # half of them around it.
        small, big = uuid.uuid4().hex, uuid.uuid4().hex
        assert await seed(store, small, template, *RANGE) == 4 * 42
        assert await seed(store, big, template, at(1, 6, year=2025), at(11, 1)) > 3000

        costs = {}
        for user in (small, big):
            for period in (series.Period.DAY, series.Period.WEEK):
                with listener.counting() as seen:
                    points = await series.read(store, user, period, *RANGE)
                assert sum(p.workouts for p in points) == 4 * 42
                costs[user, period] = (seen.commands, seen.documents, seen.entries)
        # The totals and the range's four weeks, each by _id, for either history.
        for period in (series.Period.DAY, series.Period.WEEK):
            assert costs[small, period] == costs[big, period] == ({"find": 5}, 5, 4 * 42)

        # A year by months, about the widest a series reads: the totals and the weeks
        # from 2025-W01 to 2026-W05 that hold workouts, within 1 + MAX_WEEKS.
        year = (at(1, 15, year=2025), at(1, 15))
        for user, weeks in ((small, 0), (big, 56)):
            with listener.counting() as seen:
                points = await series.read(store, user, series.Period.MONTH, *year)
            assert len(points) == 13
            assert (seen.commands, seen.documents) == ({"find": 1 + weeks}, 1 + weeks)
    finally:
        await store.stop()
