"""Workout files read without servers: the committed samples (a GPSBabel hike in GPX, a
Forerunner 410 run in TCX, a run recorded as FIT), a GPX with heart rate written by gpxpy,
and the malformed files whose errors must say what was wrong."""

from __future__ import annotations

import datetime as dt
import io
import re
import statistics
import struct
from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

import fitdecode
import gpxpy.gpx
import pytest
from fitdecode.utils import compute_crc

from activity_service.imports import ParsePool
from activity_service.parsers import ParseError, parse, sniff, sport_of
from servicekit.events import ImportFinished, MalformedEvent

DATA = Path(__file__).resolve().parent.parent / "data"
GPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"


# A lap's start, timer time and distance, as the TCX sample writes them.
LAP = (
    rb'<Lap StartTime="([^"]+)">\s*'
    rb"<TotalTimeSeconds>([\d.]+)</TotalTimeSeconds>\s*<DistanceMeters>([\d.]+)<"
)


def utc(text: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(text.decode().replace("Z", "+00:00"))


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fit_session(content: bytes) -> dict[str, object]:
    """The FIT file's own summary, read with fitdecode directly."""
    with fitdecode.FitReader(io.BytesIO(content)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "session":
                return {f.name: f.value for f in frame.fields}
    raise AssertionError("no session")


def hr_gpx(rates: list[int], sport: str = "running") -> bytes:
    """A GPX track with Garmin heart-rate extensions, written by gpxpy."""
    doc = gpxpy.gpx.GPX()
    doc.nsmap["gpxtpx"] = GPX_NS
    track = gpxpy.gpx.GPXTrack()
    track.type = sport  # type: ignore[assignment]  # gpxpy types it as None
    segment = gpxpy.gpx.GPXTrackSegment()
    start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    for i, rate in enumerate(rates):
        point = gpxpy.gpx.GPXTrackPoint(
            45 + i * 0.001, 6.0, elevation=1000 + 10 * i, time=start + dt.timedelta(seconds=30 * i)
        )
        extension = Element(f"{{{GPX_NS}}}TrackPointExtension")
        SubElement(extension, f"{{{GPX_NS}}}hr").text = str(rate)
        point.extensions.append(extension)
        segment.points.append(point)
    track.segments.append(segment)
    doc.tracks.append(track)
    return doc.to_xml().encode()


def test_formats_are_told_by_content_before_names() -> None:
    assert sniff(sample("hike.gpx"), "x.bin") == "gpx"
    assert sniff(sample("run.tcx"), "run.gpx") == "tcx"
    assert sniff(sample("run.fit"), "") == "fit"
    assert sniff(b"garbage", "RIDE.FIT") == "fit"  # the parser then says what is wrong
    assert sniff(b"%PDF-1.7", "notes.pdf") is None


def test_gpx_hike_has_its_time_distance_and_climb() -> None:
    content = sample("hike.gpx")
    parsed = parse(content, "gpx")
    times = re.findall(rb"<time>([^<]+)</time>", content.split(b"<trk>", 1)[1])
    first, last = (
        dt.datetime.fromisoformat(t.decode().replace("Z", "+00:00")) for t in (times[0], times[-1])
    )
    assert (parsed.start_time, parsed.end_time) == (first, last)
    assert parsed.points == len(times)
    # 15 km over the Korita and Zbevnica hills with about 700 m of climbing.
    assert 14_000 < (parsed.distance_m or 0) < 17_000
    assert 500 < (parsed.elevation_gain_m or 0) < 900
    assert (parsed.avg_heart_rate, parsed.heart_rate_samples, parsed.sport) == (None, 0, None)


def test_tcx_run_sums_its_laps_and_heart_rate() -> None:
    content = sample("run.tcx")
    parsed = parse(content, "tcx")
    laps = re.findall(LAP, content)
    points = content.split(b"<Track>", 1)[1]
    rates = [int(r) for r in re.findall(rb"<HeartRateBpm>\s*<Value>(\d+)</Value>", points)]
    assert parsed.sport == "running"
    assert parsed.start_time == utc(laps[0][0])
    assert parsed.distance_m == pytest.approx(sum(float(m) for _, _, m in laps), abs=0.01)
    assert parsed.heart_rate_samples == len(rates)
    assert parsed.avg_heart_rate == round(statistics.fmean(rates))
    assert parsed.max_heart_rate == max(rates)
    # It ends when its last lap's timer stopped.
    ends = [utc(start) + dt.timedelta(seconds=float(seconds)) for start, seconds, _ in laps]
    assert parsed.end_time == max(ends)


def test_fit_run_takes_the_devices_summary_and_the_samples_heart_rate() -> None:
    content = sample("run.fit")
    parsed = parse(content, "fit")
    session = fit_session(content)
    assert parsed.sport == "running"
    assert parsed.start_time == session["start_time"]
    elapsed = dt.timedelta(seconds=float(session["total_elapsed_time"]))  # type: ignore[arg-type]
    assert parsed.end_time == parsed.start_time + elapsed
    assert parsed.distance_m == pytest.approx(session["total_distance"], abs=0.01)
    assert parsed.elevation_gain_m == session["total_ascent"]
    assert parsed.heart_rate_samples > 500
    # The samples' mean, within a beat of what the watch itself reckoned.
    assert abs((parsed.avg_heart_rate or 0) - int(session["avg_heart_rate"])) <= 1  # type: ignore[call-overload]
    assert parsed.max_heart_rate == session["max_heart_rate"]


def test_gpx_heart_rate_from_garmin_extensions() -> None:
    parsed = parse(hr_gpx([120, 140, 160, 170]), "gpx")
    assert (parsed.avg_heart_rate, parsed.max_heart_rate, parsed.heart_rate_samples) == (
        148,
        170,
        4,
    )
    assert parsed.sport == "running"
    assert parsed.elevation_gain_m == pytest.approx(30, abs=1)
    assert (parsed.end_time - parsed.start_time).total_seconds() == 90


def flip_crc(b: bytes) -> bytes:
    return b[:-1] + bytes([b[-1] ^ 0xFF])


def no_header(b: bytes) -> bytes:
    return b"\x0c" + b"\x00" * 11 + b[12:]


def no_lap_time(b: bytes) -> bytes:
    return re.sub(rb"<TotalTimeSeconds>[^<]*</TotalTimeSeconds>", b"", b, count=1)


def no_activity(b: bytes) -> bytes:
    return b.replace(b"<Activity Sport", b"<Other Sport").replace(b"</Activity>", b"</Other>")


def bad_time(b: bytes) -> bytes:
    return b.replace(b"2012-12-26T21:29:54Z", b"yesterday", 1)


def no_tracks(b: bytes) -> bytes:
    return re.sub(rb"<trk>.*</trk>", b"", b, flags=re.S)


def no_times(b: bytes) -> bytes:
    return re.sub(rb"<time>[^<]*</time>", b"", b)


def cut(size: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:size]


@pytest.mark.parametrize(
    ("name", "corrupt", "problem"),
    [
        ("run.fit", cut(5000), r"^FIT: the file ends early at byte 5000"),
        ("run.fit", flip_crc, r"^FIT: CRC mismatch .*offset: \d+"),
        ("run.fit", no_header, r"^FIT: bad header"),
        ("run.tcx", no_lap_time, r"^TCX: Lap 1 has no TotalTimeSeconds$"),
        ("run.tcx", cut(2000), r"^TCX: not well-formed XML \(.*line \d+"),
        ("run.tcx", no_activity, r"^TCX: no Activity$"),
        ("run.tcx", bad_time, r"^TCX: Lap 1 Trackpoint 2 Time is not a time"),
        ("hike.gpx", no_tracks, r"^GPX: no track points"),
        ("hike.gpx", no_times, r"^GPX: fewer than two track points have a time$"),
        ("hike.gpx", cut(80_000), r"^GPX: not well-formed XML"),
    ],
)
def test_malformed_files_say_what_is_wrong(
    name: str, corrupt: Callable[[bytes], bytes], problem: str
) -> None:
    with pytest.raises(ParseError, match=problem):
        parse(corrupt(sample(name)), name.rsplit(".", 1)[1])


def test_an_entity_bomb_is_refused_before_it_expands() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY a{i} "{"&a;" * 10 if i == 0 else f"&a{i - 1};" * 10}">'.encode()
            for i in range(8)
        )
        + b']><gpx version="1.1"><trk><name>&a7;</name></trk></gpx>'
    )
    with pytest.raises(ParseError, match=r"^GPX: a DTD or entity declaration is not allowed$"):
        parse(bomb, "gpx")


def as_settings_file(content: bytes) -> bytes:
    """The FIT file with its file_id's type set to settings (2), its CRC made right again."""
    with fitdecode.FitReader(io.BytesIO(content), keep_raw_chunks=True) as reader:
        message = next(
            f for f in reader if isinstance(f, fitdecode.FitDataMessage) and f.name == "file_id"
        )
    at = message.chunk.offset + 1  # past the record header
    for field in message.def_mesg.field_defs:
        if field.name == "type":
            break
        at += field.size
    assert content[at] == 4  # activity
    changed = content[:at] + b"\x02" + content[at + 1 : -2]
    return changed + struct.pack("<H", compute_crc(changed))


def test_a_fit_file_that_is_not_an_activity_is_refused() -> None:
    with pytest.raises(ParseError, match=r"^FIT: not an activity file \(its type is 'settings'\)$"):
        parse(as_settings_file(sample("run.fit")), "fit")


def test_sport_names_from_files() -> None:
    assert sport_of("Biking") == "cycling"
    assert sport_of("Trail Running") == "running"
    assert sport_of("Other") is None
    assert sport_of(None) is None


async def test_parsing_in_worker_processes_gives_the_same_answers_and_errors() -> None:
    pool = ParsePool(1)
    try:
        assert await pool.parse(sample("run.fit"), "fit") == parse(sample("run.fit"), "fit")
        with pytest.raises(ParseError, match=r"^TCX: not well-formed XML"):
            await pool.parse(b"<TrainingCenterDatabase>", "tcx")
    finally:
        await pool.stop()


def test_import_finished_event_round_trips_and_is_named_by_its_end() -> None:
    at = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    done = ImportFinished.of("u1", "i1", "done", "w1", "", at)
    assert ImportFinished.from_fields(done.to_fields()) == done
    assert ImportFinished.of("u1", "i1", "done", "w1", "", at).event_id == done.event_id
    later = ImportFinished.of(
        "u1", "i1", "failed", "", "GPX: no track points", at + dt.timedelta(seconds=1)
    )
    assert later.event_id != done.event_id
    assert ImportFinished.from_fields(later.to_fields()).error == "GPX: no track points"
    with pytest.raises(MalformedEvent, match="status"):
        ImportFinished.from_fields({**done.to_fields(), "status": "maybe"})
