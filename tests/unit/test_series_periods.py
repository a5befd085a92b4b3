"""The periods of an activity series and their figures, worked by hand: ISO weeks across a
year's end, months of every length, the first period holding `since`, empty periods and the
pro-rated score."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from activity_service import series, weeks
from activity_service.series import Period
from servicekit.errors import FieldViolation, InvalidArgument, Violations


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=dt.UTC)


def starts(period: Period, since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    return [p.start for p in series.periods(period, since, until)]


def workout(start: dt.datetime, minutes: float = 30, **values: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "status": "completed",
        "score_status": "scored",
        "start_time": start,
        "duration_seconds": minutes * 60,
        "score": {"intensity_minutes": minutes, "calories_burned": 200.0},
    }
    return doc | values


def test_an_iso_week_starts_on_monday_across_the_years_end() -> None:
    # 2026-12-28 is a Monday; its ISO week is 2026-W53 and holds 2027-01-01..03.
    assert starts(Period.WEEK, at(2026, 12, 28), at(2027, 1, 4)) == [at(2026, 12, 28)]
    assert starts(Period.WEEK, at(2026, 12, 31, 18), at(2027, 1, 4, 0, 0, 1)) == [
        at(2026, 12, 28),
        at(2027, 1, 4),
    ]
    (week,) = series.periods(Period.WEEK, at(2027, 1, 2), at(2027, 1, 3))
    assert (week.start, week.end, week.days) == (at(2026, 12, 28), at(2027, 1, 4), 7)
    assert series.week_span([week]) == ("2026-W53", "2026-W53")
    assert len(starts(Period.DAY, at(2026, 12, 28), at(2027, 1, 4))) == 7


def test_months_have_their_calendar_lengths() -> None:
    leap = series.periods(Period.MONTH, at(2028, 1, 15), at(2028, 4, 1))
    assert [(p.start, p.days) for p in leap] == [
        (at(2028, 1, 1), 31),
        (at(2028, 2, 1), 29),
        (at(2028, 3, 1), 31),
    ]
    assert [p.days for p in series.periods(Period.MONTH, at(2027, 2, 1), at(2027, 3, 1))] == [28]
    december = series.periods(Period.MONTH, at(2026, 12, 31, 23, 59), at(2027, 1, 1, 0, 0, 1))
    assert [(p.start, p.end) for p in december] == [
        (at(2026, 12, 1), at(2027, 1, 1)),
        (at(2027, 1, 1), at(2027, 2, 1)),
    ]


@pytest.mark.parametrize(
    ("period", "since", "first"),
    [
        (Period.DAY, at(2026, 3, 4, 14, 30), at(2026, 3, 4)),
        (Period.WEEK, at(2026, 3, 4, 14, 30), at(2026, 3, 2)),  # the Wednesday's Monday
        (Period.MONTH, at(2026, 3, 31, 23, 59), at(2026, 3, 1)),
        (Period.WEEK, at(2026, 3, 2), at(2026, 3, 2)),  # a Monday's week is its own
    ],
)
def test_the_first_period_is_the_one_holding_since(
    period: Period, since: dt.datetime, first: dt.datetime
) -> None:
    assert starts(period, since, since + dt.timedelta(minutes=1)) == [first]


def test_until_is_exclusive() -> None:
    assert starts(Period.DAY, at(2026, 3, 4, 12), at(2026, 3, 6)) == [
        at(2026, 3, 4),
        at(2026, 3, 5),
    ]
    assert len(starts(Period.DAY, at(2026, 3, 4), at(2026, 3, 6, 0, 0, 0, 1000))) == 3


def test_workouts_fill_the_period_of_their_start_and_empty_periods_stay_zero() -> None:
    points = series.periods(Period.DAY, at(2026, 3, 2), at(2026, 3, 5))
    series.fill(
        points,
        [
            workout(at(2026, 3, 2, 23, 59, 59), distance_m=5000.0),  # ends on the 3rd
            workout(at(2026, 3, 4), 15),
            workout(at(2026, 3, 4, 18), 45, distance_m=1000.5),
            workout(at(2026, 3, 5), 60),  # at until: outside
            workout(at(2026, 3, 1, 23), 60),  # before the first period: outside
            workout(at(2026, 3, 3), 60, status="active"),  # running: not counted
        ],
    )
    figures = [
        (p.workouts, p.active_minutes, p.intensity_minutes, p.distance_m, p.calories_burned)
        for p in points
    ]
    assert figures == [
        (1, 30.0, 30.0, 5000.0, 200.0),
        (0, 0.0, 0.0, 0.0, 0.0),
        (2, 60.0, 60.0, 1000.5, 400.0),
    ]
    assert points[1].score == 0.0


def test_a_pending_score_counts_minutes_but_no_intensity() -> None:
    points = series.periods(Period.WEEK, at(2026, 3, 2), at(2026, 3, 9))
    series.fill(points, [workout(at(2026, 3, 3), 40, score_status="pending", score=None)])
    (point,) = points
    figures = (point.workouts, point.active_minutes, point.intensity_minutes)
    assert figures == (1, 40.0, 0.0)
    assert (point.calories_burned, point.score) == (0.0, 0.0)


def test_the_score_is_pro_rated_to_the_periods_days() -> None:
    def score(period: Period, since: dt.datetime, intensity_minutes: float) -> float:
        (point,) = series.periods(period, since, since + dt.timedelta(minutes=1))
        point.intensity_minutes = intensity_minutes
        return round(point.score, 2)

    # A week's target is 150 minutes: its score is the weekly score.
    assert score(Period.WEEK, at(2026, 3, 2), 75) == 50.0
    assert score(Period.WEEK, at(2026, 3, 2), 300) == 100.0  # capped
    # A day's is 150 / 7 = 21.43 minutes: 15 minutes is 70 %.
    assert score(Period.DAY, at(2026, 3, 2), 15) == 70.0
    # April's 30 days: 150 x 30 / 7 = 642.86 minutes; February 2028's 29: 621.43.
    assert score(Period.MONTH, at(2026, 4, 10), 150) == 23.33
    assert score(Period.MONTH, at(2028, 2, 10), 150) == 24.14


def violations(since: dt.datetime | None, until: dt.datetime | None) -> list[FieldViolation]:
    v = Violations()
    series.check_range(v, since, until)
    with pytest.raises(InvalidArgument) as raised:
        v.raise_if_any()
    return list(raised.value.violations)


def test_the_range_is_required_ordered_and_at_most_366_days() -> None:
    since = at(2026, 3, 2)
    assert [f.field for f in violations(None, None)] == ["since", "until"]
    assert [f.field for f in violations(since, None)] == ["until"]
    assert violations(since, since)[0].description == "must be after since"
    too_long = since + dt.timedelta(days=366, milliseconds=1)
    assert violations(since, too_long)[0].description == "must be at most 366 days after since"
    v = Violations()
    series.check_range(v, since, since + dt.timedelta(days=366))
    v.raise_if_any()  # a leap year's range is fine
    assert [f.field for f in violations(at(9998, 12, 1), at(9999, 1, 2))] == ["until"]


def test_periods_are_named_as_the_proto_enum_shortens_them() -> None:
    assert [series.period_named(n) for n in ("day", "week", "month")] == list(Period)
    assert series.period_named(None) is None
    assert series.period_named("quarter") is None


def test_no_range_overlaps_more_than_max_weeks() -> None:
    # Every start of two years (a leap year among them) at both ends of the day.
    most = dict.fromkeys(Period, 0)
    for day in range(2 * 366):
        for time in (dt.time(), dt.time(23, 59, 59, 999000)):
            since = dt.datetime.combine(dt.date(2027, 1, 1), time, dt.UTC)
            since += dt.timedelta(days=day)
            for period in Period:
                points = series.periods(period, since, since + series.MAX_SPAN)
                oldest, newest = (weeks.bounds(w)[0] for w in series.week_span(points))
                most[period] = max(most[period], (newest - oldest).days // 7 + 1)
    assert most == {Period.DAY: 54, Period.WEEK: 54, Period.MONTH: series.MAX_WEEKS}
