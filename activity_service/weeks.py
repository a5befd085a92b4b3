"""ISO weeks (UTC): their names, their bounds, and sets of them kept as bits. Pure.

A user's non-empty weeks are stored as one integer per ISO year (key `y2026`) whose bit
`n - 1` is set when week `n` holds workouts: a history of decades costs a few hundred bytes, is read
whole by every page, and is written with `$bit` (or), which is idempotent."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping

from servicekit.errors import Violations

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def name(at: dt.datetime) -> str:
    """`2026-W07`: the ISO week (UTC) `at` falls in; names sort as the weeks do."""
    year, week, _ = at.astimezone(dt.UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def bounds(week: str) -> tuple[dt.datetime, dt.datetime]:
    """Monday 00:00 UTC of the week and of the next one; ValueError for a week that does
    not exist or whose end no timestamp can hold (9999-W52)."""
    match = WEEK.match(week)
    if not match:
        raise ValueError(f"not an ISO week: {week!r}")
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        start = dt.datetime.combine(monday, dt.time(), dt.UTC)
        return start, start + dt.timedelta(days=7)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"no ISO week {week} within 0001-W01..9999-W51") from exc


def shift(week: str, count: int) -> str:
    """The week `count` weeks after `week` (before, when negative)."""
    return name(bounds(week)[0] + dt.timedelta(weeks=count))


def check(v: Violations, field: str, week: str) -> None:
    if not WEEK.match(week):
        v.add(field, "must be an ISO week such as 2026-W07")
        return
    try:
        bounds(week)
    except ValueError:
        v.add(field, "no such ISO week in 0001-W01..9999-W51")


def bit(week: str) -> tuple[str, int]:
    """The year key and the mask that mark `week` in a week set."""
    year, number = week.split("-W")
    return f"y{year}", 1 << (int(number) - 1)


def masks(weeks: Iterable[str]) -> dict[str, int]:
    """The week set holding `weeks`, as year key → mask."""
    found: dict[str, int] = {}
    for week in weeks:
        year, mask = bit(week)
        found[year] = found.get(year, 0) | mask
    return found


def newest_first(
    bits: Mapping[str, int], upto: str | None = None, since: str | None = None
) -> Iterator[str]:
    """The weeks of a week set, newest first, within [since, upto] when given."""
    for year in sorted(bits, reverse=True):
        mask = int(bits[year])
        for number in range(53, 0, -1):
            if not mask & (1 << (number - 1)):
                continue
            week = f"{year[1:]}-W{number:02d}"
            if upto is not None and week > upto:
                continue
            if since is not None and week < since:
                return
            yield week
