"""The samples of a recorded workout: (seconds from its start, heart rate, elevation) per
point of its file, thinned to a bound. Pure: the parsers (in worker processes) make them,
workout_samples.py keeps them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

# What IMPORT_MAX_SAMPLES defaults to: a point every ~1.3 s of a 45-minute run, every ~7 s
# of a four-hour hike; plenty for a chart, and under 80 KiB stored (BSON).
MAX_POINTS = 2000
T = TypeVar("T")


class Sample(NamedTuple):
    offset_seconds: float
    heart_rate: int | None
    elevation_m: float | None


# A point as a parser reads it: its time, heart rate and elevation (either may be absent).
Reading = tuple[dt.datetime, int | None, float | None]


def downsample(points: Sequence[T], limit: int) -> list[T]:
    """At most `limit` of `points`, evenly spread over them: the first and the last are
    kept, and the gaps between those kept differ by at most one point."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    n = len(points)
    if n <= limit:
        return list(points)
    if limit == 1:
        return [points[0]]
    # n > limit makes the step above 1, so the indices are distinct and increasing.
    return [points[round(i * (n - 1) / (limit - 1))] for i in range(limit)]


def series(readings: Iterable[Reading], start: dt.datetime, end: dt.datetime) -> list[Sample]:
    """The readings with a heart rate or an elevation, as samples from `start` in time
    order; those outside the workout's span (a point recorded before its lap began) are
    left out, so every offset is within the workout."""
    span = (end - start).total_seconds()
    found = [
        Sample(round((at - start).total_seconds(), 3), hr, _rounded(elevation))
        for at, given, elevation in readings
        # A heart rate of 0 is a strap that lost contact, not a reading.
        if (hr := given or None) is not None or elevation is not None
    ]
    return sorted((s for s in found if 0 <= s.offset_seconds <= span), key=lambda s: s[0])


def _rounded(elevation: float | None) -> float | None:
    # Centimetres: more than any GPS or barometer resolves.
    return round(elevation, 2) if elevation is not None else None


def to_columns(samples: Sequence[Sample]) -> dict[str, list[Any]]:
    """Samples as stored: three arrays of one value per point, nulls where absent (FerretDB
    1.x stores no array of arrays, so not `[offset, heart rate, elevation]` each)."""
    return {
        "offsets": [s.offset_seconds for s in samples],
        "heart_rates": [s.heart_rate for s in samples],
        "elevations": [s.elevation_m for s in samples],
    }


def from_columns(columns: dict[str, list[Any]]) -> list[Sample]:
    return [
        Sample(*point)
        for point in zip(
            columns["offsets"], columns["heart_rates"], columns["elevations"], strict=True
        )
    ]
