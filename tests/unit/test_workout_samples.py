"""An imported workout's samples without servers: thinning keeps at most the bound, evenly
and in order; the parsers' samples are the files' own points (read here with gpxpy and
fitdecode directly), and a bound given to the parse holds."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from pathlib import Path

import fitdecode
import gpxpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activity_service.parsers import parse
from activity_service.samples import Sample, downsample, from_columns, series, to_columns
from gateway.audit import MARK, Audited
from gateway.routes.workouts import workout_samples

DATA = Path(__file__).resolve().parent.parent / "data"
START = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


@given(st.integers(0, 3000), st.integers(1, 500))
def test_thinning_keeps_at_most_the_bound_evenly_and_in_order(n: int, limit: int) -> None:
    points = list(range(n))
    kept = downsample(points, limit)
    assert len(kept) == min(n, limit)
    assert kept == sorted(set(kept))  # in order, none twice, all from the points
    if n <= limit:
        assert kept == points
        return
    assert kept[0] == 0
    if limit > 1:
        assert kept[-1] == n - 1
        gaps = {b - a for a, b in itertools.pairwise(kept)}
        assert max(gaps) - min(gaps) <= 1


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        downsample([1, 2, 3], 0)


def test_a_series_keeps_points_with_a_reading_within_the_workout_in_time_order() -> None:
    at = [START + dt.timedelta(seconds=s) for s in (-5, 0, 10, 20, 30, 99)]
    readings = [
        (at[3], 150, None),
        (at[0], 120, 5.0),  # before the start
        (at[1], 0, 101.234),  # a strap without contact: no heart rate
        (at[2], None, None),  # nothing read
        (at[4], 160, 103.0),
        (at[5], 170, 104.0),  # after the end
    ]
    got = series(readings, START, START + dt.timedelta(seconds=30))
    assert got == [Sample(0.0, None, 101.23), Sample(20.0, 150, None), Sample(30.0, 160, 103.0)]
    assert from_columns(to_columns(got)) == got


def test_a_gpx_files_samples_are_its_timed_points_elevations() -> None:
    content = (DATA / "hike.gpx").read_bytes()
    doc = gpxpy.parse(content.decode())
    points = [p for t in doc.tracks for s in t.segments for p in s.points if p.time]
    parsed = parse(content, "gpx")
    assert parsed.recorded_samples == len(parsed.samples) == len(points)
    elevations = [round(e, 2) if (e := p.elevation) is not None else None for p in points]
    assert [s.elevation_m for s in parsed.samples] == elevations
    assert {s.heart_rate for s in parsed.samples} == {None}  # the hike has no heart rate
    duration = (parsed.end_time - parsed.start_time).total_seconds()
    assert parsed.samples[0].offset_seconds == 0
    assert parsed.samples[-1].offset_seconds == duration


def test_a_fit_files_samples_are_its_records() -> None:
    content = (DATA / "run.fit").read_bytes()
    with fitdecode.FitReader(io.BytesIO(content)) as reader:
        records = [
            (f.get_value("heart_rate"), f.get_value("enhanced_altitude"))
            for f in reader
            if isinstance(f, fitdecode.FitDataMessage) and f.name == "record"
        ]
    parsed = parse(content, "fit")
    assert [(s.heart_rate, s.elevation_m) for s in parsed.samples] == [
        (hr, round(altitude, 2)) for hr, altitude in records
    ]
    assert max(s.heart_rate or 0 for s in parsed.samples) == parsed.max_heart_rate


@pytest.mark.parametrize(("name", "limit"), [("run.tcx", 50), ("run.fit", 7), ("hike.gpx", 2)])
def test_a_parse_keeps_at_most_the_bound_from_first_to_last(name: str, limit: int) -> None:
    content, fmt = (DATA / name).read_bytes(), name.rsplit(".", 1)[1]
    whole, thinned = parse(content, fmt), parse(content, fmt, limit)
    assert len(whole.samples) > limit
    assert len(thinned.samples) == limit
    assert thinned.recorded_samples == len(whole.samples)
    assert set(thinned.samples) <= set(whole.samples)
    assert (thinned.samples[0], thinned.samples[-1]) == (whole.samples[0], whole.samples[-1])
    # Everything else the file says is read from all of it, not from the samples kept.
    assert (thinned.max_heart_rate, thinned.elevation_gain_m) == (
        whole.max_heart_rate,
        whole.elevation_gain_m,
    )


def test_reading_samples_is_audited_as_a_read_of_the_workout() -> None:
    assert getattr(workout_samples, MARK) == Audited("read", "workout:{session_id}")
