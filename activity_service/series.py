"""A user's activity per day, ISO week or calendar month (UTC): the periods of a range and
their figures (pure), then the read that fills them from the week buckets (history.py).

Points cover whole periods: the first is the period holding `since`, the last the one
holding the last instant before `until`, so a point's figures are always its whole day's,
week's or month's, and the score's target is pro-rated to the days the period has.

The read needs nothing a bucket's entries lack (start time, duration, distance and the
score's intensity minutes and calories), so it takes the user's week set from the totals
(one document) and the buckets of the non-empty ISO weeks the periods overlap, each by
`_id`: at most 1 + MAX_WEEKS documents, however long the history around the range."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from activity_service import history, weeks
from activity_service.store import Store
from servicekit.errors import Violations


class Period(StrEnum):
    """The short names of fitmesh.health.v1.Period."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_named(name: str | None) -> Period | None:
    """The period of a short name; None for none or one this service does not know."""
    try:
        return Period(name or "")
    except ValueError:
        return None


MAX_SPAN = dt.timedelta(days=366)
# The most ISO weeks the periods of a range of MAX_SPAN overlap: 54 for days and weeks, 62
# for months, whose first may begin a month before `since` and whose last may end a month
# after `until` (tests/unit/test_series_periods.py tries every start of some years).
MAX_WEEKS = 62
# The WHO's 150 minutes a week, the target the weekly score of the scoring service uses.
WHO_WEEKLY_MINUTES = 150.0
# A month after 9998-12 may not exist as a datetime; nobody's workouts are there.
LAST_YEAR = 9998


def check_range(v: Violations, since: dt.datetime | None, until: dt.datetime | None) -> None:
    for name, at in (("since", since), ("until", until)):
        if at is None:
            v.add(name, "is required")
    if since is None or until is None:
        return
    if until <= since:
        v.add("until", "must be after since")
    elif until - since > MAX_SPAN:
        v.add("until", "must be at most 366 days after since")
    elif until.year > LAST_YEAR:
        v.add("until", f"must be before {LAST_YEAR + 1}-01-01")


def start_of(period: Period, at: dt.datetime) -> dt.datetime:
    """00:00 UTC of the day, the Monday or the first of the month holding `at`."""
    day = at.astimezone(dt.UTC).date()
    if period is Period.WEEK:
        day -= dt.timedelta(days=day.weekday())
    elif period is Period.MONTH:
        day = day.replace(day=1)
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def next_start(period: Period, start: dt.datetime) -> dt.datetime:
    """The start of the period after the one starting at `start`."""
    if period is Period.DAY:
        return start + dt.timedelta(days=1)
    if period is Period.WEEK:
        return start + dt.timedelta(weeks=1)
    year, month = divmod(start.year * 12 + start.month, 12)  # month is 0-based here
    return start.replace(year=year, month=month + 1)


@dataclass
class Point:
    """One period's completed workouts."""

    start: dt.datetime
    end: dt.datetime
    workouts: int = 0
    active_minutes: float = 0.0
    intensity_minutes: float = 0.0
    distance_m: float = 0.0
    calories_burned: float = 0.0

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def score(self) -> float:
        """Progress to the WHO target pro-rated to the period's days, 0-100."""
        target = WHO_WEEKLY_MINUTES * self.days / 7
        return min(100.0, 100 * self.intensity_minutes / target)

    def add(self, doc: Mapping[str, Any]) -> None:
        """Count a completed workout; one waiting for its score has minutes but neither
        intensity minutes nor calories yet (they come with the score)."""
        self.workouts += 1
        self.active_minutes += doc["duration_seconds"] / 60
        self.distance_m += doc.get("distance_m") or 0.0
        if doc.get("score_status") == "scored":
            self.intensity_minutes += doc["score"]["intensity_minutes"]
            self.calories_burned += doc["score"]["calories_burned"]


def periods(period: Period, since: dt.datetime, until: dt.datetime) -> list[Point]:
    """Every period holding an instant of [since, until), oldest first, each empty."""
    found: list[Point] = []
    start = start_of(period, since)
    while start < until:
        end = next_start(period, start)
        found.append(Point(start, end))
        start = end
    return found


def fill(points: list[Point], docs: Iterable[Mapping[str, Any]]) -> None:
    """Add each completed workout to the point its start time falls in; workouts outside
    every point are left out."""
    starts = [p.start for p in points]
    for doc in docs:
        if doc.get("status") != "completed":
            continue
        at = bisect.bisect_right(starts, doc["start_time"]) - 1
        if at >= 0 and doc["start_time"] < points[at].end:
            points[at].add(doc)


def week_span(points: list[Point]) -> tuple[str, str]:
    """The oldest and newest ISO week the points overlap."""
    return weeks.name(points[0].start), weeks.name(points[-1].end - dt.timedelta(milliseconds=1))


async def read(
    store: Store, user_id: str, period: Period, since: dt.datetime, until: dt.datetime
) -> list[Point]:
    """The points of [since, until) with the user's workouts (see the module's docstring)."""
    points = periods(period, since, until)
    oldest, newest = week_span(points)
    bits = (await store.totals_doc(user_id, ["week_bits"]) or {}).get("week_bits", {})
    held = list(weeks.newest_first(bits, newest, oldest))
    buckets = await asyncio.gather(*(store.bucket(user_id, week) for week in held))
    fill(points, (doc for b in buckets for doc in history.workouts_in(user_id, b)))
    return points
