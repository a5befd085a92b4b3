"""The health service as served by the activity service's process, on a MongoDB
wire-protocol server, with the scoring service ranking insights."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2
from pymongo import monitoring

from activity_service import insights, meals, metrics, weeks
from activity_service.health_rules import MealIn, Sample
from activity_service.series import Period
from activity_service.store import Store
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.protofields import timestamp, to_datetime
from servicekit.status import field_violations
from tests.clock import Clock
from tests.helpers import log_workout, night, record, rpc_error, sample

Stub = health_pb2_grpc.HealthServiceStub
DAY = dt.timedelta(days=1)
STEPS = hpb.METRIC_TYPE_STEPS
WATER = hpb.METRIC_TYPE_WATER_ML
SLEEP = hpb.METRIC_TYPE_SLEEP_MINUTES
RESTING = hpb.METRIC_TYPE_HEART_RATE_RESTING
WEIGHT = hpb.METRIC_TYPE_WEIGHT_KG


@pytest_asyncio.fixture(scope="session")
async def health_stub(activity_service: services.ServiceProcess) -> AsyncIterator[Stub]:
    async with activity_service.channel() as channel:
        yield Stub(channel)


def user() -> str:
    return str(uuid.uuid4())


async def listed(stub: Stub, user_id: str, page_size: int = 0, **filters: Any) -> list[Any]:
    """Every page of ListMetrics, followed to the end."""
    found: list[Any] = []
    token = ""
    while True:
        request = hpb.ListMetricsRequest(
            user_id=user_id, page_size=page_size, page_token=token, **filters
        )
        reply = await stub.ListMetrics(request, timeout=10)
        assert len(reply.metrics) <= (page_size or 50)
        found += reply.metrics
        token = reply.next_page_token
        if not token:
            return found


async def refused(call: Any) -> list[str]:
    """The fields an INVALID_ARGUMENT names."""
    error = await rpc_error(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return [v.field for v in field_violations(error)]


async def test_health_checks_answer_for_the_health_service(
    activity_service: services.ServiceProcess,
) -> None:
    status = await services.health_status(
        activity_service.address, hpb.DESCRIPTOR.services_by_name["HealthService"].full_name
    )
    assert status == health_pb2.HealthCheckResponse.SERVING


async def test_single_and_batch_writes_read_back(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    at = clock.now - dt.timedelta(minutes=1, microseconds=123_456)
    [one] = await record(health_stub, user_id, sample(STEPS, 4321, at))
    assert not one.duplicate
    assert one.metric.unit == "steps"
    assert one.metric.metric_type == STEPS
    assert to_datetime(one.metric.recorded_at) == at.replace(
        microsecond=at.microsecond // 1000 * 1000
    )
    got = await health_stub.GetMetric(
        hpb.GetMetricRequest(user_id=user_id, metric_id=one.metric.metric_id), timeout=10
    )
    assert got.metric == one.metric

    end = clock.now - dt.timedelta(hours=2)
    batch = await record(
        health_stub,
        user_id,
        sample(WEIGHT, 72.5, clock.now - DAY, unit="kg"),
        night(430, end, "night-1"),
        sample(RESTING, 58, clock.now - DAY),
    )
    assert [m.metric.metric_type for m in batch] == [WEIGHT, SLEEP, RESTING]
    assert [m.metric.unit for m in batch] == ["kg", "min", "bpm"]
    sleep = batch[1].metric
    assert sleep.recorded_at == sleep.end_time == timestamp(end)
    assert to_datetime(sleep.end_time) - to_datetime(sleep.start_time) == dt.timedelta(minutes=430)
    assert sleep.client_id == "night-1"
    assert len(await listed(health_stub, user_id)) == 4


async def test_a_repeated_batch_stores_nothing_new(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    first = await record(
        health_stub,
        user_id,
        *(sample(STEPS, 100 * i, clock.now - dt.timedelta(hours=i), f"s{i}") for i in range(1, 4)),
    )
    again = await record(
        health_stub,
        user_id,
        *(sample(STEPS, 999, clock.now - dt.timedelta(minutes=i), f"s{i}") for i in range(1, 4)),
    )
    assert [m.duplicate for m in first] == [False] * 3
    assert [m.duplicate for m in again] == [True] * 3
    assert [m.metric for m in again] == [m.metric for m in first]
    assert len(await listed(health_stub, user_id)) == 3


async def test_a_mixed_batch_stores_only_the_new_samples_in_request_order(
    health_stub: Stub,
    clock: Clock,
) -> None:
    user_id = user()
    [old] = await record(health_stub, user_id, sample(WATER, 250, clock.now - DAY, "w-old"))
    mixed = await record(
        health_stub,
        user_id,
        sample(WATER, 300, clock.now, "w-new-1"),
        sample(WATER, 999, clock.now, "w-old"),
        sample(WATER, 400, clock.now),
        sample(WATER, 500, clock.now, "w-new-2"),
    )
    assert [m.duplicate for m in mixed] == [False, True, False, False]
    assert mixed[1].metric == old.metric
    assert [m.metric.value for m in mixed] == [300, 250, 400, 500]
    assert sorted(m.value for m in await listed(health_stub, user_id)) == [250, 300, 400, 500]


async def test_concurrent_resyncs_store_each_sample_once(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    batch = [sample(STEPS, i, clock.now - dt.timedelta(minutes=i), f"c{i}") for i in range(20)]
    replies = await asyncio.gather(*(record(health_stub, user_id, *batch) for _ in range(5)))
    for i in range(20):
        stored = [r[i] for r in replies]
        assert sum(not m.duplicate for m in stored) == 1
        assert len({m.metric.metric_id for m in stored}) == 1
    assert len(await listed(health_stub, user_id)) == 20


async def test_a_client_id_twice_in_one_batch_is_refused(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    request = hpb.RecordMetricsRequest(
        user_id=user_id,
        samples=[
            sample(STEPS, 1, clock.now, "a"),
            sample(STEPS, 2, clock.now, "b"),
            sample(STEPS, 3, clock.now, "a"),
        ],
    )
    assert await refused(health_stub.RecordMetrics(request, timeout=10)) == ["samples[2].client_id"]
    assert await listed(health_stub, user_id) == []


def bad_samples(now: dt.datetime) -> dict[str, tuple[list[hpb.MetricSample], list[str]]]:
    """Refused batches by name, with the fields the refusal names."""
    return {
        "value out of range": (
            [sample(STEPS, 10, now), sample(RESTING, 300, now)],
            ["samples[1].value"],
        ),
        "unknown type": ([sample(99, 10, now)], ["samples[0].metric_type"]),
        "no type": ([sample(0, 10, now)], ["samples[0].metric_type"]),
        "wrong unit": ([sample(WEIGHT, 150, now, unit="lb")], ["samples[0].unit"]),
        "sleep ends before it starts": (
            [
                hpb.MetricSample(
                    metric_type=SLEEP,
                    value=60,
                    start_time=timestamp(now - dt.timedelta(hours=1)),
                    end_time=timestamp(now - dt.timedelta(hours=2)),
                )
            ],
            ["samples[0].end_time"],
        ),
        "sleep longer than a day": (
            [
                hpb.MetricSample(
                    metric_type=SLEEP,
                    value=600,
                    start_time=timestamp(now - dt.timedelta(hours=25)),
                    end_time=timestamp(now),
                )
            ],
            ["samples[0].end_time"],
        ),
        "more asleep than in bed": (
            [
                hpb.MetricSample(
                    metric_type=SLEEP,
                    value=120,
                    start_time=timestamp(now - dt.timedelta(hours=1)),
                    end_time=timestamp(now),
                )
            ],
            ["samples[0].value"],
        ),
        "sleep without a start": (
            [hpb.MetricSample(metric_type=SLEEP, value=60, end_time=timestamp(now))],
            ["samples[0].start_time"],
        ),
        "a start on steps": (
            [sample(STEPS, 10, now, start_time=timestamp(now))],
            ["samples[0].start_time"],
        ),
        "in the future": (
            [sample(STEPS, 10, now + dt.timedelta(days=1))],
            ["samples[0].recorded_at"],
        ),
        "before 1970": (
            [sample(STEPS, 10, dt.datetime(1969, 12, 31, tzinfo=dt.UTC))],
            ["samples[0].recorded_at"],
        ),
        "no time": ([hpb.MetricSample(metric_type=STEPS, value=10)], ["samples[0].recorded_at"]),
        "none": ([], ["samples"]),
        "over 1000": ([sample(STEPS, 1, now)] * 1001, ["samples"]),
    }


@pytest.mark.parametrize("case", bad_samples(dt.datetime.now(dt.UTC)))
async def test_bad_samples_are_refused_naming_the_field(
    health_stub: Stub, case: str, clock: Clock
) -> None:
    samples, fields = bad_samples(clock.now)[case]
    request = hpb.RecordMetricsRequest(user_id=user(), samples=samples)
    assert await refused(health_stub.RecordMetrics(request, timeout=10)) == fields


async def test_a_wrong_unit_is_named_with_the_expected_one(health_stub: Stub, clock: Clock) -> None:
    request = hpb.RecordMetricsRequest(
        user_id=user(), samples=[sample(RESTING, 60, clock.now, unit="bps")]
    )
    error = await rpc_error(health_stub.RecordMetrics(request, timeout=10))
    [violation] = field_violations(error)
    assert '"bpm"' in violation.description


async def test_a_thousand_bad_samples_are_refused_with_the_first_problems(
    health_stub: Stub,
    clock: Clock,
) -> None:
    """Every problem of a batch would not fit in the status's trailers."""
    samples = [sample(STEPS, -1, clock.now, f"x{i % 500}", unit="x") for i in range(1000)]
    request = hpb.RecordMetricsRequest(user_id=user(), samples=samples)
    fields = await refused(health_stub.RecordMetrics(request, timeout=10))
    assert fields[:3] == ["samples[0].value", "samples[0].unit", "samples[1].value"]
    assert len(fields) == 50


async def test_a_full_batch_of_one_thousand_is_stored(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    samples = [sample(STEPS, i, clock.now - dt.timedelta(seconds=i), f"k{i}") for i in range(1000)]
    stored = await record(health_stub, user_id, *samples)
    assert len({m.metric.metric_id for m in stored}) == 1000
    again = await record(health_stub, user_id, *samples)
    assert all(m.duplicate for m in again)


async def test_another_users_metric_is_not_found(health_stub: Stub, clock: Clock) -> None:
    [mine] = await record(health_stub, user(), sample(STEPS, 10, clock.now))
    request = hpb.GetMetricRequest(user_id=user(), metric_id=mine.metric.metric_id)
    error = await rpc_error(health_stub.GetMetric(request, timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_list_pages_without_gaps_or_repeats_and_filters(
    health_stub: Stub, clock: Clock
) -> None:
    user_id = user()
    # Ten samples share each time, so pages must break ties by id.
    samples = [
        sample(STEPS if i % 3 else WATER, 1 + i, clock.now - dt.timedelta(hours=i // 10))
        for i in range(120)
    ]
    for start in range(0, 120, 40):
        await record(health_stub, user_id, *samples[start : start + 40])
    every = await listed(health_stub, user_id, page_size=7)
    assert len(every) == 120
    assert len({m.metric_id for m in every}) == 120
    keys = [(to_datetime(m.recorded_at), m.metric_id) for m in every]
    assert keys == sorted(keys, reverse=True)

    water = await listed(health_stub, user_id, page_size=9, metric_type=WATER)
    assert len(water) == 40
    assert {m.metric_type for m in water} == {WATER}
    since, until = clock.now - dt.timedelta(hours=5), clock.now - dt.timedelta(hours=2)
    window = await listed(
        health_stub, user_id, page_size=4, since=timestamp(since), until=timestamp(until)
    )
    assert len(window) == 30  # hours 5, 4 and 3; hour 2 is the end, left out
    assert all(since <= to_datetime(m.recorded_at) < until for m in window)
    assert len(await listed(health_stub, user_id, page_size=500)) == 120

    too_big = hpb.ListMetricsRequest(user_id=user_id, page_size=501)
    assert await refused(health_stub.ListMetrics(too_big, timeout=10)) == ["page_size"]
    bad_token = hpb.ListMetricsRequest(user_id=user_id, page_token="nope")
    assert await refused(health_stub.ListMetrics(bad_token, timeout=10)) == ["page_token"]


async def summarize(stub: Stub, user_id: str, days: int, kind: Any = 0) -> Any:
    request = hpb.SummarizeMetricsRequest(user_id=user_id, days=days, metric_type=kind)
    return await stub.SummarizeMetrics(request, timeout=10)


async def test_summary_figures_and_window_edges(health_stub: Stub, clock: Clock) -> None:
    """A window is whole UTC days: today and the days - 1 before it."""
    user_id = user()
    second = dt.timedelta(seconds=1)
    stored = await record(
        health_stub,
        user_id,
        sample(STEPS, 1000, clock.now),
        sample(STEPS, 3000, clock.midnight - DAY + dt.timedelta(hours=12)),
        sample(STEPS, 5000, clock.midnight - 6 * DAY),  # the week's first instant
        sample(STEPS, 99_000, clock.midnight - 6 * DAY - second),  # the day before it
        sample(WATER, 200, clock.midnight - DAY),  # inside 2 days
        sample(WATER, 900, clock.midnight - DAY - second),  # just outside
        sample(RESTING, 60, clock.midnight - 5 * DAY),
        sample(RESTING, 70, clock.midnight - 4 * DAY),
    )
    week = await summarize(health_stub, user_id, 7)
    assert [s.metric_type for s in week.summaries] == [STEPS, RESTING, WATER]
    steps, resting, water = week.summaries
    assert (steps.count, steps.min, steps.max, steps.mean) == (3, 1000, 5000, 3000)
    assert steps.unit == "steps"
    assert steps.latest == stored[0].metric  # whole, from the day's rollup
    assert (resting.count, resting.mean, resting.latest.value) == (2, 65, 70)
    assert (water.count, water.min, water.max, water.mean) == (2, 200, 900, 550)
    assert to_datetime(week.since) == clock.midnight - 6 * DAY
    assert clock.now <= to_datetime(week.until) <= dt.datetime.now(dt.UTC)

    two = await summarize(health_stub, user_id, 2)
    assert [(s.metric_type, s.count, s.mean) for s in two.summaries] == [
        (STEPS, 2, 2000),
        (WATER, 1, 200),
    ]
    assert to_datetime(two.since) == clock.midnight - DAY
    only = await summarize(health_stub, user_id, 365, WATER)
    assert [(s.metric_type, s.count) for s in only.summaries] == [(WATER, 2)]
    assert (await summarize(health_stub, user(), 30)).summaries == []
    for days in (0, 366):
        assert await refused(summarize(health_stub, user_id, days)) == ["days"]


async def series(
    stub: Stub, user_id: str, period: Any, since: dt.datetime, until: dt.datetime
) -> list[tuple[dt.date, int, float, float, float, float]]:
    request = hpb.MetricSeriesRequest(
        user_id=user_id,
        metric_type=STEPS,
        period=period,
        since=timestamp(since),
        until=timestamp(until),
    )
    reply = await stub.MetricSeries(request, timeout=10)
    assert reply.unit == "steps"
    return [
        (to_datetime(p.start).date(), p.count, p.sum, p.min, p.max, p.mean) for p in reply.points
    ]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


async def test_series_has_every_period_with_iso_weeks_and_months(health_stub: Stub) -> None:
    user_id = user()
    await record(
        health_stub,
        user_id,
        sample(STEPS, 100, utc(2024, 1, 7, 23, 59, 59)),  # Sunday: the week of Jan 1
        sample(STEPS, 300, utc(2024, 1, 8)),  # Monday: the next week
        sample(STEPS, 500, utc(2024, 1, 8, 12)),
        sample(STEPS, 1000, utc(2024, 1, 31, 23, 59)),
        sample(STEPS, 2000, utc(2024, 2, 29, 10)),  # a leap day
        sample(STEPS, 4000, utc(2024, 3, 1)),
        sample(STEPS, 8000, utc(2024, 5, 1)),  # after every range below
    )
    week = hpb.PERIOD_WEEK
    assert await series(health_stub, user_id, week, utc(2024, 1, 3), utc(2024, 2, 5)) == [
        (dt.date(2024, 1, 1), 1, 100, 100, 100, 100),
        (dt.date(2024, 1, 8), 2, 800, 300, 500, 400),
        (dt.date(2024, 1, 15), 0, 0, 0, 0, 0),
        (dt.date(2024, 1, 22), 0, 0, 0, 0, 0),
        (dt.date(2024, 1, 29), 1, 1000, 1000, 1000, 1000),
    ]
    month = hpb.PERIOD_MONTH
    assert await series(health_stub, user_id, month, utc(2024, 1, 15), utc(2024, 4, 1)) == [
        (dt.date(2024, 1, 1), 4, 1900, 100, 1000, 475),
        (dt.date(2024, 2, 1), 1, 2000, 2000, 2000, 2000),
        (dt.date(2024, 3, 1), 1, 4000, 4000, 4000, 4000),
    ]
    day = hpb.PERIOD_DAY
    assert await series(health_stub, user_id, day, utc(2024, 2, 28), utc(2024, 3, 2)) == [
        (dt.date(2024, 2, 28), 0, 0, 0, 0, 0),
        (dt.date(2024, 2, 29), 1, 2000, 2000, 2000, 2000),
        (dt.date(2024, 3, 1), 1, 4000, 4000, 4000, 4000),
    ]
    year = await series(health_stub, user_id, day, utc(2023, 3, 1), utc(2024, 3, 1))
    assert len(year) == 366
    assert sum(p[1] for p in year) == 5


async def test_series_refuses_a_bad_range_or_period(health_stub: Stub) -> None:
    def request(period: Any, since: dt.datetime, until: dt.datetime) -> Any:
        return hpb.MetricSeriesRequest(
            user_id=user(),
            metric_type=STEPS,
            period=period,
            since=timestamp(since),
            until=timestamp(until),
        )

    too_long = request(hpb.PERIOD_DAY, utc(2023, 1, 1), utc(2024, 1, 3))
    assert await refused(health_stub.MetricSeries(too_long, timeout=10)) == ["until"]
    backwards = request(hpb.PERIOD_DAY, utc(2024, 1, 3), utc(2024, 1, 1))
    assert await refused(health_stub.MetricSeries(backwards, timeout=10)) == ["until"]
    no_period = request(0, utc(2024, 1, 1), utc(2024, 1, 3))
    assert await refused(health_stub.MetricSeries(no_period, timeout=10)) == ["period"]


def meal(at: dt.datetime, client_id: str = "", **values: Any) -> hpb.Meal:
    return hpb.Meal(eaten_at=timestamp(at), client_id=client_id, **values)


async def log_meal(stub: Stub, user_id: str, m: hpb.Meal) -> Any:
    return await stub.LogMeal(hpb.LogMealRequest(user_id=user_id, meal=m), timeout=10)


async def test_log_meal_is_idempotent_and_checked(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    items = [hpb.MealItem(name="oats", quantity_g=80, calories=300), hpb.MealItem(name="tea")]
    first = await log_meal(
        health_stub,
        user_id,
        meal(clock.now, "m1", name="breakfast", calories=450, protein_g=15, items=items),
    )
    again = await log_meal(health_stub, user_id, meal(clock.now, "m1", calories=999))
    assert not first.duplicate
    assert again.duplicate
    assert again.meal == first.meal
    assert first.meal.items[0].quantity_g == 80
    assert not first.meal.items[1].HasField("quantity_g")
    other = await log_meal(health_stub, user_id, meal(clock.now, calories=100))
    assert other.meal.meal_id != first.meal.meal_id

    bad = meal(
        clock.now + dt.timedelta(days=1),
        calories=20_000,
        items=[hpb.MealItem(name="ok"), hpb.MealItem(name="", calories=-1)],
    )
    assert await refused(log_meal(health_stub, user_id, bad)) == [
        "meal.eaten_at",
        "meal.calories",
        "meal.items[1].name",
        "meal.items[1].calories",
    ]


async def test_list_meals_days_count_meals_off_the_page(health_stub: Stub, clock: Clock) -> None:
    user_id = user()
    day_a, day_b = clock.midnight - DAY, clock.midnight - 2 * DAY
    for hour, calories in ((8, 400), (12, 600), (19, 800)):
        await log_meal(
            health_stub,
            user_id,
            meal(day_a + dt.timedelta(hours=hour), calories=calories, fat_g=10),
        )
    for hour, calories in ((9, 300), (20, 700)):
        await log_meal(
            health_stub, user_id, meal(day_b + dt.timedelta(hours=hour), calories=calories)
        )
    await log_meal(health_stub, user(), meal(day_a, calories=5000))  # someone else's

    totals = {
        day_a.date().isoformat(): (3, 1800.0, 30.0),
        day_b.date().isoformat(): (2, 1000.0, 0.0),
    }

    async def page(token: str, **filters: Any) -> tuple[list[float], list[Any], str]:
        request = hpb.ListMealsRequest(user_id=user_id, page_size=2, page_token=token, **filters)
        reply = await health_stub.ListMeals(request, timeout=10)
        days = [(d.date, d.meals, d.calories, d.fat_g) for d in reply.days]
        return [m.calories for m in reply.meals], days, reply.next_page_token

    a, b = day_a.date().isoformat(), day_b.date().isoformat()
    meals, days, token = await page("")
    assert (meals, days) == ([800, 600], [(a, *totals[a])])
    meals, days, token = await page(token)
    assert (meals, days) == ([400, 700], [(a, *totals[a]), (b, *totals[b])])
    meals, days, token = await page(token)
    assert (meals, days, token) == ([300], [(b, *totals[b])], "")

    until = timestamp(day_a + dt.timedelta(hours=10))
    meals, days, _ = await page("", until=until)
    assert (meals, days) == ([400, 700], [(a, *totals[a]), (b, *totals[b])])
    too_big = hpb.ListMealsRequest(user_id=user_id, page_size=201)
    assert await refused(health_stub.ListMeals(too_big, timeout=10)) == ["page_size"]


async def test_insights_come_from_the_logged_figures(
    health_stub: Stub, activity_stub: activity_pb2_grpc.ActivityServiceStub, clock: Clock
) -> None:
    user_id = user()
    await record(
        health_stub,
        user_id,
        # Steps: 5000 today, 8000 two days ago, 6000 six days ago; eight days ago is out.
        sample(STEPS, 3000, clock.midnight),
        sample(STEPS, 2000, clock.midnight),
        sample(STEPS, 8000, clock.midnight - 2 * DAY),
        sample(STEPS, 6000, clock.midnight - 6 * DAY),
        sample(STEPS, 50_000, clock.midnight - 6 * DAY - dt.timedelta(minutes=1)),
        # Sleep: a night and a nap ending yesterday (450), a night ending today (400).
        night(420, clock.midnight - DAY),
        night(30, clock.midnight - DAY + dt.timedelta(hours=14)),
        night(400, clock.midnight),
        # Resting heart rate: 65 on average today, 55 yesterday.
        sample(RESTING, 60, clock.midnight),
        sample(RESTING, 70, clock.midnight),
        sample(RESTING, 55, clock.midnight - DAY),
        sample(hpb.METRIC_TYPE_HEART_RATE, 150, clock.midnight),
        # Water: 2000 yesterday, 1000 three days ago.
        sample(WATER, 1500, clock.midnight - DAY),
        sample(WATER, 500, clock.midnight - DAY),
        sample(WATER, 1000, clock.midnight - 3 * DAY),
        # Weight over 30 days: 82 twenty days ago, 80 today; 90 is older than that.
        sample(WEIGHT, 90, clock.midnight - 30 * DAY),
        sample(WEIGHT, 82, clock.midnight - 20 * DAY),
        sample(WEIGHT, 81, clock.midnight - 10 * DAY),
        sample(WEIGHT, 80, clock.midnight),
    )
    for at, grams in (
        (clock.midnight, (30, 100, 20)),
        (clock.midnight, (20, 0, 0)),
        (clock.midnight - DAY, (70, 200, 40)),
        (clock.midnight - 8 * DAY, (999, 999, 999)),
    ):
        protein, carbohydrate, fat = grams
        await log_meal(
            health_stub,
            user_id,
            meal(at, protein_g=protein, carbohydrate_g=carbohydrate, fat_g=fat),
        )
    workout_start = clock.now - dt.timedelta(minutes=11)
    workout = await log_workout(activity_stub, user_id, workout_start, 10)
    this_week = weeks.name(workout_start) == weeks.name(clock.now)
    intensity = workout.score.intensity_minutes if this_week else 0.0

    person = spb.Person(age_years=40, sex=spb.SEX_FEMALE, weight_kg=80, target_weight_kg=70)
    reply = await health_stub.GetInsights(
        hpb.GetInsightsRequest(user_id=user_id, person=person, limit=10), timeout=10
    )
    assert reply.figures == spb.HealthFigures(
        mean_daily_steps=19_000 / 3,
        step_days=3,
        mean_sleep_minutes=425,
        sleep_nights=2,
        mean_resting_heart_rate=60,
        resting_heart_rate_days=2,
        first_weight_kg=82,
        latest_weight_kg=80,
        weight_span_days=20,
        mean_daily_water_ml=1500,
        water_days=2,
        mean_daily_protein_g=60,
        mean_daily_carbohydrate_g=150,
        mean_daily_fat_g=30,
        meal_days=2,
        week_intensity_minutes=intensity,
        week_day=clock.now.isoweekday(),
    )
    assert len(reply.insights) <= 10
    assert [i.rank for i in reply.insights] == list(range(1, len(reply.insights) + 1))


async def test_insights_of_a_user_with_nothing_logged(health_stub: Stub, clock: Clock) -> None:
    reply = await health_stub.GetInsights(hpb.GetInsightsRequest(user_id=user()), timeout=10)
    assert reply.figures == spb.HealthFigures(week_day=clock.now.isoweekday())
    too_many = hpb.GetInsightsRequest(user_id=user(), limit=21)
    assert await refused(health_stub.GetInsights(too_many, timeout=10)) == ["limit"]


class Returned(monitoring.CommandListener):
    """Counts the documents the server returns: what a read touches on MongoDB, where
    the indexes find them (FerretDB 1.x decodes the collection to find them: store.py)."""

    def __init__(self) -> None:
        self.documents = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if cursor is not None:
            self.documents += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def write(store: Store, owner: str, per_day: int, days: int, clock: Clock) -> None:
    """`per_day` steps samples on each of the last `days` UTC days, stored and rolled up
    as RecordMetrics does, in batches of at most 1,000."""
    step = DAY / per_day
    times = [clock.midnight - d * DAY + n * step for d in range(days) for n in range(per_day)]
    docs = [
        metrics.sample_doc(owner, Sample("steps", 1, "", at, None, None, ""), clock.now)
        for at in times
        if at <= clock.now
    ]
    for start in range(0, len(docs), 1000):
        stored = await metrics.record(store, docs[start : start + 1000])
        await metrics.roll_up(store, owner, (doc for doc, _ in stored))


async def test_reads_cost_days_not_samples(mongo: Server, clock: Clock) -> None:
    """Summaries, series and insights return one rollup per day (and type), whatever a
    day's samples and whatever other users store; a page returns the page."""
    returned = Returned()
    store = Store(mongo.url, f"t_{uuid.uuid4().hex[:12]}", [returned])
    await store.start()
    try:
        light, heavy, hour = user(), user(), dt.timedelta(hours=1)

        async def costs(user_id: str) -> tuple[int, int, int]:
            """Documents returned by a 7-day summary, a 14-day series, the insights."""
            found = []
            for read in (
                metrics.summarize(store, user_id, "", *metrics.last_days(clock.now, 7)),
                metrics.points(
                    store,
                    user_id,
                    "steps",
                    Period.DAY,
                    clock.midnight - 13 * DAY,
                    clock.midnight + DAY,
                ),
                insights.figures(store, user_id, clock.now),
            ):
                returned.documents = 0
                await read
                found.append(returned.documents)
            return found[0], found[1], found[2]

        await write(store, light, 10, 10, clock)
        alone = await costs(light)
        assert alone == (7, 10, 7)  # a rollup per day with samples
        [summary] = await metrics.summarize(store, light, "", *metrics.last_days(clock.now, 7))
        assert summary.figures.count == sum(
            1
            for d in range(7)
            for n in range(10)
            if clock.midnight - d * DAY + n * DAY / 10 <= clock.now
        )

        await write(store, heavy, 500, 10, clock)  # fifty times the samples a day
        assert await costs(light) == alone  # another user's data changes nothing
        assert await costs(heavy) == alone

        returned.documents = 0  # a write reads the samples of the days it touches
        await write(store, light, 1, 1, clock)
        assert returned.documents == 1 + sum(
            1 for n in range(10) if clock.midnight + n * DAY / 10 <= clock.now
        )

        returned.documents = 0
        page = await metrics.page(store, light, "", None, None, None, 51)
        assert (len(page), returned.documents) == (51, 51)

        for day in range(1, 31):  # three meals a day
            for at in (8, 12, 19):
                eaten = MealIn(clock.midnight - day * DAY + at * hour, "", 500, 20, 60, 15, [], "")
                await meals.log(store, meals.meal_doc(light, eaten, clock.now))
        returned.documents = 0
        shown = (await meals.page(store, light, None, None, None, 6))[:5]
        days = await meals.days(store, light, (d["day"] for d in shown))
        assert [d.meals for d in days] == [3, 3]
        assert returned.documents == 6 + 6  # the page and one more, then two whole days
    finally:
        await store.stop()


@pytest_asyncio.fixture
async def service_store(activity_service_env: dict[str, str]) -> AsyncIterator[Store]:
    """The health service's own database."""
    store = Store(activity_service_env["MONGODB_URL"], activity_service_env["MONGODB_DATABASE"])
    yield store
    await store.stop()


async def versions(store: Store, user_id: str) -> list[int]:
    """The counts of a user's stored rollup versions, highest first."""
    found = store.find(store.metric_days, {"user_id": user_id}, ["count"])
    return sorted([int(doc["count"]) async for doc in found], reverse=True)


async def test_concurrent_batches_to_one_day_leave_a_complete_rollup(
    health_stub: Stub, service_store: Store, clock: Clock
) -> None:
    for round_ in range(10):
        user_id, writers = user(), 2 + round_ % 3
        batches = [
            [
                sample(STEPS, 1 + 10 * b + i, clock.midnight + dt.timedelta(seconds=i), f"b{b}-{i}")
                for i in range(3 + b)
            ]
            + [sample(STEPS, 500 + b, clock.midnight, "shared")]  # one sample all the batches send
            for b in range(writers)
        ]
        await asyncio.gather(*(record(health_stub, user_id, *batch) for batch in batches))
        stored = await listed(health_stub, user_id, page_size=500)
        [steps] = (await summarize(health_stub, user_id, 1, STEPS)).summaries
        assert steps.count == len(stored) == sum(len(batch) - 1 for batch in batches) + 1
        assert steps.mean * steps.count == pytest.approx(sum(m.value for m in stored))
        assert (await versions(service_store, user_id))[0] == len(stored), round_


async def test_a_retry_of_duplicates_repairs_a_lost_rollup(
    health_stub: Stub, service_store: Store, clock: Clock
) -> None:
    user_id = user()
    batch = [
        sample(STEPS, 1000 * i, clock.midnight + i * dt.timedelta(minutes=1), f"r{i}")
        for i in (1, 2)
    ]
    await record(health_stub, user_id, *batch)
    await record(health_stub, user_id, sample(STEPS, 4000, clock.midnight, "r4"))
    assert await versions(service_store, user_id) == [3]  # the older version is pruned
    # As a crash after the samples were stored, before their rollup was.
    await service_store.metric_days.delete_many({"user_id": user_id})
    assert (await summarize(health_stub, user_id, 1)).summaries == []

    again = await record(health_stub, user_id, *batch)
    assert all(m.duplicate for m in again)
    [steps] = (await summarize(health_stub, user_id, 1)).summaries
    assert (steps.count, steps.min, steps.max, steps.mean) == (3, 1000, 4000, 7000 / 3)
    assert steps.latest.client_id == "r2"
    assert await versions(service_store, user_id) == [3]
