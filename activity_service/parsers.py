"""Workout files as workouts: GPX (gpxpy), TCX (defusedxml's ElementTree) and FIT
(fitdecode). Pure: bytes in, a `ParsedWorkout` or a `ParseError` out. It runs in worker
processes (imports.py), so everything it returns or raises pickles.

XML is read by defusedxml first, which refuses DTDs: a GPX or TCX file never needs one, and
an entity bomb is one."""

from __future__ import annotations

import datetime as dt
import io
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import fitdecode
import gpxpy
import gpxpy.geo
import gpxpy.gpx
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeXml

from activity_service import samples

FORMATS = ("gpx", "tcx", "fit")
# How far into a file its format shows: an XML declaration, comments and the root tag.
SNIFF_BYTES = 4096
TCX_NS = "{http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2}"
# Sport names files use, as fitmesh's workout types. FIT's come from its profile, TCX's
# are Running/Biking/Other, GPX's are free text (Strava writes "running", "cycling"...).
SPORTS = {
    "running": "running",
    "run": "running",
    "trail_running": "running",
    "treadmill_running": "running",
    "walking": "walking",
    "walk": "walking",
    "cycling": "cycling",
    "biking": "cycling",
    "bike": "cycling",
    "ride": "cycling",
    "road_biking": "cycling",
    "mountain_biking": "cycling",
    "e_biking": "cycling",
    "swimming": "swimming",
    "swim": "swimming",
    "lap_swimming": "swimming",
    "open_water": "swimming",
    "hiking": "hiking",
    "hike": "hiking",
    "rowing": "rowing",
    "row": "rowing",
    "cross_country_skiing": "cross_country_skiing",
    "elliptical": "elliptical",
    "yoga": "yoga",
    "pilates": "pilates",
    "dancing": "dancing",
    "dance": "dancing",
    "tennis": "tennis",
    "basketball": "basketball",
    "soccer": "soccer",
    "stair_climbing": "stair_climbing",
    "hiit": "hiit",
    "strength_training": "strength",
}


class ParseError(ValueError):
    """What was wrong with a file, in words for its owner: `GPX: no track points`."""


@dataclass(frozen=True)
class ParsedWorkout:
    format: str
    sport: str | None  # a fitmesh workout type, when the file names a known sport
    start_time: dt.datetime
    end_time: dt.datetime
    distance_m: float | None
    elevation_gain_m: float | None
    avg_heart_rate: int | None
    max_heart_rate: int | None
    heart_rate_samples: int
    points: int  # track points or records read
    # Heart rate and elevation through the workout, thinned to the bound parse() was given.
    samples: tuple[samples.Sample, ...] = ()
    recorded_samples: int = 0  # points with either, before thinning


@dataclass
class _Track:
    """What every format is read into before it becomes a ParsedWorkout."""

    times: list[dt.datetime]
    elevations: list[float | None]
    heart_rates: list[int]
    distance_m: float | None = None
    elevation_gain_m: float | None = None
    sport: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    readings: list[samples.Reading] = field(default_factory=list)


def sniff(content: bytes, filename: str) -> str | None:
    """The file's format from its first bytes, else from its name's extension; None when
    neither says GPX, TCX or FIT."""
    # A FIT header: its size (12 or 14), then ".FIT" at bytes 8-11.
    if len(content) >= 12 and content[0] in (12, 14) and content[8:12] == b".FIT":
        return "fit"
    head = content[:SNIFF_BYTES].decode("utf-8", "replace")
    if "<gpx" in head:
        return "gpx"
    if "<TrainingCenterDatabase" in head:
        return "tcx"
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return extension if extension in FORMATS else None


def parse(content: bytes, fmt: str, max_samples: int = samples.MAX_POINTS) -> ParsedWorkout:
    """The workout in a file of format `fmt` (gpx, tcx or fit), with at most `max_samples`
    samples."""
    label = fmt.upper()
    if fmt == "fit":
        track = _fit(content)
    else:
        root = _xml(content, label)
        track = _gpx(content) if fmt == "gpx" else _tcx(root)
    return _workout(fmt, label, track, max_samples)


def sport_of(name: str | None) -> str | None:
    if not name:
        return None
    return SPORTS.get(name.strip().lower().replace(" ", "_").replace("-", "_"))


def _workout(fmt: str, label: str, t: _Track, max_samples: int) -> ParsedWorkout:
    if not t.times and t.start is None:
        raise ParseError(f"{label}: no points with a time")
    start = t.start or min(t.times)
    end = max([*t.times, *([t.end] if t.end else [])])
    if end <= start:
        raise ParseError(f"{label}: the activity has no duration (one point in time)")
    gain = t.elevation_gain_m
    if gain is None and any(e is not None for e in t.elevations):
        gain = gpxpy.geo.calculate_uphill_downhill(t.elevations)[0]
    hr = [h for h in t.heart_rates if h > 0]
    recorded = samples.series(t.readings, start, end)
    return ParsedWorkout(
        format=fmt,
        sport=t.sport,
        start_time=start,
        end_time=end,
        distance_m=round(t.distance_m, 2) if t.distance_m is not None else None,
        elevation_gain_m=round(gain, 1) if gain is not None else None,
        avg_heart_rate=round(statistics.fmean(hr)) if hr else None,
        max_heart_rate=max(hr) if hr else None,
        heart_rate_samples=len(hr),
        points=len(t.times),
        samples=tuple(samples.downsample(recorded, max_samples)),
        recorded_samples=len(recorded),
    )


def _utc(at: dt.datetime) -> dt.datetime:
    """Files without a zone mean UTC (GPX requires it; some writers leave the Z off)."""
    return at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _xml(content: bytes, label: str) -> Element:
    try:
        return SafeXml.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(f"{label}: a DTD or entity declaration is not allowed") from exc
    except SafeXml.ParseError as exc:
        raise ParseError(f"{label}: not well-formed XML ({exc})") from exc


# GPX.


def _gpx(content: bytes) -> _Track:
    try:
        doc = gpxpy.parse(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"GPX: not UTF-8 text (byte {exc.start})") from exc
    except gpxpy.gpx.GPXException as exc:
        raise ParseError(f"GPX: {exc}") from exc
    points = [
        (p, track) for track in doc.tracks for segment in track.segments for p in segment.points
    ]
    if not points:
        raise ParseError("GPX: no track points (routes and waypoints carry no workout)")
    timed = [p for p, _ in points if p.time is not None]
    if len(timed) < 2:
        raise ParseError("GPX: fewer than two track points have a time")
    sport = next((s for t in doc.tracks if (s := sport_of(t.type))), None)
    has_elevation = any(p.elevation is not None for p, _ in points)
    readings = [
        (_utc(p.time), _extension_hr(p.extensions), p.elevation)
        for p in timed
        if p.time is not None
    ]
    return _Track(
        times=[_utc(p.time) for p in timed if p.time is not None],
        elevations=[p.elevation for p, _ in points],
        heart_rates=[hr for p, _ in points if (hr := _extension_hr(p.extensions)) is not None],
        distance_m=doc.length_3d(),
        elevation_gain_m=doc.get_uphill_downhill().uphill if has_elevation else None,
        sport=sport,
        readings=readings,
    )


def _extension_hr(extensions: Iterable[Element]) -> int | None:
    """Heart rate from Garmin's TrackPointExtension (`gpxtpx:hr`) or any element named hr."""
    for extension in extensions:
        for element in extension.iter():
            if _local(element.tag).lower() in ("hr", "heartrate") and element.text:
                try:
                    return int(float(element.text))
                except ValueError:
                    return None
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# TCX.


def _tcx(root: Element) -> _Track:
    if _local(root.tag) != "TrainingCenterDatabase":
        raise ParseError("TCX: the root element is not TrainingCenterDatabase")
    activity = root.find(f"{TCX_NS}Activities/{TCX_NS}Activity")
    if activity is None:
        raise ParseError("TCX: no Activity")
    laps = activity.findall(f"{TCX_NS}Lap")
    if not laps:
        raise ParseError("TCX: the Activity has no Lap")
    track = _Track(times=[], elevations=[], heart_rates=[], sport=sport_of(activity.get("Sport")))
    ends: list[dt.datetime] = []
    distance = 0.0
    for n, lap in enumerate(laps, 1):
        start = _tcx_time(lap.get("StartTime"), f"Lap {n} StartTime")
        seconds = _tcx_number(lap, "TotalTimeSeconds", f"Lap {n}")
        if seconds is None:
            raise ParseError(f"TCX: Lap {n} has no TotalTimeSeconds")
        ends.append(start + dt.timedelta(seconds=seconds))
        distance += _tcx_number(lap, "DistanceMeters", f"Lap {n}") or 0.0
        track.start = min(track.start or start, start)
        for i, point in enumerate(lap.iter(f"{TCX_NS}Trackpoint"), 1):
            _tcx_point(track, point, f"Lap {n} Trackpoint {i}")
    track.end = max(ends)
    track.distance_m = distance
    return track


def _tcx_point(track: _Track, point: Element, where: str) -> None:
    text = point.findtext(f"{TCX_NS}Time")
    if text is None:
        return  # a point without a time adds nothing a workout keeps
    at = _tcx_time(text, f"{where} Time")
    track.times.append(at)
    elevation = _tcx_number(point, "AltitudeMeters", where)
    track.elevations.append(elevation)
    hr = _tcx_number(point, f"HeartRateBpm/{TCX_NS}Value", where)
    if hr is not None:
        track.heart_rates.append(round(hr))
    track.readings.append((at, round(hr) if hr is not None else None, elevation))


def _tcx_time(text: str | None, what: str) -> dt.datetime:
    if not text:
        raise ParseError(f"TCX: {what} is missing")
    try:
        return _utc(dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError as exc:
        raise ParseError(f"TCX: {what} is not a time: {text[:40]!r}") from exc


def _tcx_number(element: Element, path: str, where: str) -> float | None:
    text = element.findtext(f"{TCX_NS}{path}")
    if text is None:
        return None
    try:
        return float(text)
    except ValueError as exc:
        name = path.split("/")[0]
        raise ParseError(f"TCX: {where} {name} is not a number: {text[:40]!r}") from exc


# FIT.


def _fit(content: bytes) -> _Track:
    track = _Track(times=[], elevations=[], heart_rates=[])
    distances: list[float] = []
    try:
        for message in _fit_messages(content):
            if message.name == "file_id":
                kind = _value(message, "type")
                if kind is not None and kind != "activity":
                    raise ParseError(f"FIT: not an activity file (its type is {kind!r})")
            elif message.name == "record":
                _fit_record(track, distances, message)
            elif message.name == "session":
                _fit_session(track, message)
    except fitdecode.FitCRCError as exc:
        raise ParseError(f"FIT: CRC mismatch ({exc})") from exc
    except fitdecode.FitHeaderError as exc:
        raise ParseError(f"FIT: bad header ({exc})") from exc
    except fitdecode.FitEOFError as exc:
        raise ParseError(f"FIT: the file ends early at byte {exc.offset} ({exc})") from exc
    except fitdecode.FitError as exc:
        raise ParseError(f"FIT: {exc}") from exc
    if track.distance_m is None and distances:
        track.distance_m = max(distances)
    return track


def _fit_messages(content: bytes) -> Iterator[Any]:
    with fitdecode.FitReader(
        io.BytesIO(content),
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.RAISE,
    ) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage):
                yield frame


def _fit_record(track: _Track, distances: list[float], message: Any) -> None:
    at = _value(message, "timestamp")
    if not isinstance(at, dt.datetime):
        return
    at = _utc(at)
    track.times.append(at)
    altitude = _value(message, "enhanced_altitude", "altitude")
    elevation = float(altitude) if altitude is not None else None
    track.elevations.append(elevation)
    if (hr := _value(message, "heart_rate")) is not None:
        hr = int(hr)
        track.heart_rates.append(hr)
    track.readings.append((at, hr, elevation))
    if (distance := _value(message, "distance")) is not None:
        distances.append(float(distance))


def _fit_session(track: _Track, message: Any) -> None:
    """The device's own summary: its distance and ascent are better than a sum of noisy
    samples. A multisport file has one session per sport; their figures add up."""
    start = _value(message, "start_time")
    elapsed = _value(message, "total_elapsed_time")
    if isinstance(start, dt.datetime):
        start = _utc(start)
        track.start = min(track.start or start, start)
        if elapsed is not None:
            end = start + dt.timedelta(seconds=float(elapsed))
            track.end = max(track.end or end, end)
    if (distance := _value(message, "total_distance")) is not None:
        track.distance_m = (track.distance_m or 0.0) + float(distance)
    if (ascent := _value(message, "total_ascent")) is not None:
        track.elevation_gain_m = (track.elevation_gain_m or 0.0) + float(ascent)
    track.sport = track.sport or sport_of(_text(_value(message, "sport")))


def _value(message: Any, *names: str) -> Any:
    """The first of `names` the message has a value for."""
    for name in names:
        if message.has_field(name) and (value := message.get_value(name)) is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
