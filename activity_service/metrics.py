"""Health samples in MongoDB: storing a batch once, day rollups, pages, summaries and
series.

One document a sample in `metrics` (store.py). A batch is one unordered insert: samples
whose `_id` (health_rules.record_id) exists fail with a duplicate key and are answered
with the copies stored first, read back by `_id` in one query; the insert decides, so
two concurrent re-syncs store each sample once.

Day rollups. Summaries, series, insights and the day totals of daily goals never read
samples: they read `metric_days`, where each (user, type, UTC day) has its count, sum,
min, max, first sample (value, time) and latest sample (whole, for a summary's
`latest`). After a batch is stored (a batch of duplicates too, so a retry repairs), every
(type, day) it touches is recomputed from that day's stored samples, read with the
all-equality filter {user_id, metric_type, day}: FerretDB on PostgreSQL pushes it down
to SQL and an index serves it on MongoDB, so it costs that day's samples.
- No lost updates without update guards (FerretDB's updates read and write back a whole
  document). A recomputation is inserted as a version of its own, `_id` =
  "<user>:<type>:<day>:<count>"; a duplicate key means that exact version exists. Samples
  are insert-only and each writer reads after its own insert, so the read that begins
  after a day's last insert sees every sample of the day: its count is the day's total,
  the highest any version can have, and a set of samples of that size can only be all of
  them. Readers take the highest count of each (type, day), so concurrent writers may
  finish in any order. Each writer then deletes the versions of its (type, day) below its
  count, best-effort: a failure there leaves garbage readers skip, and the next write of
  the day clears it. (Two interleaved reads can briefly leave two different incomplete
  sets of one size; the first is kept, and the write still to come outranks it.)
- A crash between storing samples and inserting the version leaves the day stale until
  the next write to it or the client's retry of the batch (RecordMetrics is retried by
  clients and the gateway; a retry recomputes).
- Deleting samples (not built; data lifecycle) breaks the count's monotony: a deletion
  must then insert a version that outranks every earlier one, e.g. with the version
  keyed by (generation, count) and readers taking the highest pair.
- Rollups are read by equality only, one query per day of the window: {user_id, day}
  for every type, or {user_id, metric_type, day} for one, READS_AT_ONCE at a time. A
  read returns O(days x types x versions) documents whatever the history's length or
  the sample rate, and FerretDB on PostgreSQL decodes only those. One {user_id} (or
  {user_id, metric_type}) query filtered in Python would be one round trip but return the
  user's whole history of days; a range or $in on `day` is not pushed down.

Costs, in documents returned:
- a write: the samples of the (type, day) pairs it touches (one query each), one insert
  and one delete each;
- a summary: the rollups of its days (at most 365 queries), latest sample included;
- a series: one type's rollups of the whole periods of its range (at most 427 days: a
  366-day range widened to whole months);
- the day totals a batch publishes (events.py): none more, from the write's rollups;
- a page (ListMetrics) and GetMetric stay on samples: a page is a range of recorded_at
  on the index (user_id[, metric_type], recorded_at, _id), page size + 1 on MongoDB;
  FerretDB decodes the user's samples for it (on SQLite, the collection's)."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pymongo.errors import PyMongoError

from activity_service import health_rules, series
from activity_service.health_rules import SLEEP, Sample
from activity_service.rules import to_millis
from activity_service.store import Doc, Store

log = structlog.get_logger("metrics")
NEWEST_FIRST = [("recorded_at", -1), ("_id", -1)]
# Rollup queries of one read in flight at once: a 427-day series is 427 small queries.
READS_AT_ONCE = 16
# What a day's recomputation reads of each sample: its figures and its whole self, for
# the latest sample a summary returns (user_id and metric_type are the query's).
SAMPLE_FIELDS = ["value", "unit", "recorded_at", "client_id", "start_time", "end_time"]
T = TypeVar("T")
U = TypeVar("U")


def sample_doc(user_id: str, s: Sample, created_at: dt.datetime) -> Doc:
    """The document of a valid sample; a sleep's recorded_at is its end."""
    recorded_at = to_millis(s.at)
    doc: Doc = {
        "_id": health_rules.record_id("metric", user_id, s.client_id),
        "user_id": user_id,
        "metric_type": s.kind,
        "value": s.value,
        "unit": health_rules.KINDS[s.kind].unit,
        "recorded_at": recorded_at,
        "day": health_rules.day(recorded_at),
        "client_id": s.client_id,
        "created_at": created_at,
    }
    if s.kind == SLEEP and s.start_time is not None:
        doc["start_time"] = to_millis(s.start_time)
        doc["end_time"] = recorded_at
    return doc


async def record(store: Store, docs: list[Doc]) -> list[tuple[Doc, bool]]:
    """Store the samples that are new; each sample's stored document, in order, and
    whether it was stored before."""
    repeated = await store.insert_new(store.metrics, docs)
    if not repeated:
        return [(doc, False) for doc in docs]
    first = await store.by_ids(store.metrics, [docs[i]["_id"] for i in repeated])
    return [(first[d["_id"]], True) if i in repeated else (d, False) for i, d in enumerate(docs)]


DayKey = tuple[str, str]  # (metric type, UTC day as YYYY-MM-DD)


@dataclass(frozen=True)
class Day:
    """One (type, UTC day)'s figures: a rollup version as read or written."""

    kind: str
    day: str
    count: int
    total: float
    low: float
    high: float
    first: Doc  # the earliest sample's value and recorded_at
    latest: Doc  # the latest sample, whole (health_views.metric_proto)

    @property
    def mean(self) -> float:
        return self.total / self.count

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Day:
        return cls(
            doc["metric_type"],
            doc["day"],
            doc["count"],
            doc["sum"],
            doc["min"],
            doc["max"],
            doc["first"],
            doc["latest"],
        )


def version_key(user_id: str, kind: str, day: str, count: int) -> str:
    """A rollup version's `_id`; only `user_id` may hold a colon, so it reads back from
    the right unambiguously."""
    return f"{user_id}:{kind}:{day}:{count}"


def day_doc(user_id: str, kind: str, day: str, samples: Sequence[Doc]) -> Doc:
    """The rollup version of a day's stored samples (at least one). The sum is exactly
    rounded (math.fsum), so every recomputation of one set gives the same figure in
    whatever order the samples come, and a retry publishes the same total."""
    ordered = sorted(samples, key=lambda d: (d["recorded_at"], d["_id"]))
    values = [d["value"] for d in ordered]
    first, latest = ordered[0], ordered[-1]
    return {
        "_id": version_key(user_id, kind, day, len(values)),
        "user_id": user_id,
        "metric_type": kind,
        "day": day,
        "count": len(values),
        "sum": math.fsum(values),
        "min": min(values),
        "max": max(values),
        "first": {"value": first["value"], "recorded_at": first["recorded_at"]},
        "latest": {"user_id": user_id, "metric_type": kind, **latest},
    }


def touched_days(docs: Iterable[Doc]) -> list[DayKey]:
    """The (type, day) pairs stored samples fall on, each once."""
    return sorted({(d["metric_type"], d["day"]) for d in docs})


async def roll_up(store: Store, user_id: str, stored: Iterable[Doc]) -> dict[DayKey, Day]:
    """Recompute and store the rollup of every (type, day) the stored samples (new or
    repeated) fall on; the figures written (see the module's docstring)."""

    async def one(key: DayKey) -> Day | None:
        kind, day = key
        query = {"user_id": user_id, "metric_type": kind, "day": day}
        samples = [doc async for doc in store.find(store.metrics, query, SAMPLE_FIELDS)]
        if not samples:  # never for a day a stored sample is on: a writer reads after it
            return None
        doc = day_doc(user_id, kind, day, samples)
        await store.insert_version(store.metric_days, doc)
        try:
            await store.delete_where(store.metric_days, {**query, "count": {"$lt": doc["count"]}})
        except PyMongoError as exc:  # garbage readers skip; the day's next write clears it
            log.warning("metric_day_prune_failed", user_id=user_id, key=key, error=str(exc))
        return Day.of(doc)

    found = await _bounded(one, touched_days(stored))
    return {(d.kind, d.day): d for d in found if d is not None}


def day_totals(days: Mapping[DayKey, Day], kinds: Sequence[str]) -> dict[DayKey, float]:
    """Some types' day sums, rounded as published (events.py)."""
    return {key: round(d.total, 4) for key, d in days.items() if key[0] in kinds}


async def _bounded(call: Callable[[T], Awaitable[U]], items: Sequence[T]) -> list[U]:
    """`call` of every item, at most READS_AT_ONCE at a time, in the items' order."""
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def gated(item: T) -> U:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(gated(item) for item in items)))


def utc_days(since: dt.datetime, until: dt.datetime) -> list[str]:
    """The UTC days holding an instant of [since, until), oldest first."""
    first = since.astimezone(dt.UTC).date()
    last = (until - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def last_days(now: dt.datetime, count: int) -> tuple[dt.datetime, dt.datetime]:
    """From 00:00 UTC `count - 1` days before today to the end of today: whole days."""
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
    return today - dt.timedelta(days=count - 1), today + dt.timedelta(days=1)


def midnight(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), dt.UTC)


async def days_of(
    store: Store, user_id: str, days: Sequence[str], kind: str = ""
) -> dict[DayKey, Day]:
    """The rollups of some days (only `kind`'s, when given): one equality query a day,
    the highest count of each (type, day) kept."""

    async def one(day: str) -> list[Doc]:
        query = {"user_id": user_id, "day": day}
        if kind:
            query["metric_type"] = kind
        return [doc async for doc in store.find(store.metric_days, query)]

    found: dict[DayKey, Day] = {}
    for docs in await _bounded(one, days):
        for doc in docs:
            key = (doc["metric_type"], doc["day"])
            if key not in found or doc["count"] > found[key].count:
                found[key] = Day.of(doc)
    return found


async def owned(store: Store, user_id: str, metric_id: str) -> Doc | None:
    found = await store.by_ids(store.metrics, [metric_id])
    doc = found.get(metric_id)
    return doc if doc is not None and doc["user_id"] == user_id else None


def time_range(
    name: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    after: tuple[dt.datetime, str] | None = None,
) -> Doc:
    """The filter on `name` for [since, until) and, for a page after the first, for the
    (time, _id) pairs before the cursor's (ties on the time go by `_id`)."""
    bounds: Doc = {}
    if since is not None:
        bounds["$gte"] = since
    if until is not None:
        bounds["$lt"] = until
    query: Doc = {}
    if after is not None:
        at, key = after
        bounds["$lte"] = at
        query["$or"] = [{name: {"$lt": at}}, {"_id": {"$lt": key}}]
    if bounds:
        query[name] = bounds
    return query


async def page(
    store: Store,
    user_id: str,
    kind: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Doc]:
    """Up to `limit` samples, newest first."""
    query = {"user_id": user_id, **time_range("recorded_at", since, until, after)}
    if kind:
        query["metric_type"] = kind
    return [doc async for doc in store.find(store.metrics, query, sort=NEWEST_FIRST, limit=limit)]


@dataclass
class Figures:
    """Count, sum, min and max of days' figures as they come."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, day: Day) -> None:
        self.count += day.count
        self.total += day.total
        self.low = min(self.low, day.low)
        self.high = max(self.high, day.high)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class Summary:
    """One type's figures over some days and its latest sample."""

    kind: str
    figures: Figures = field(default_factory=Figures)
    latest: Doc = field(default_factory=dict)


async def summarize(
    store: Store, user_id: str, kind: str, since: dt.datetime, until: dt.datetime
) -> list[Summary]:
    """Per type with samples on the UTC days of [since, until) (only `kind`, when
    given), in the order of MetricType."""
    found: dict[str, Summary] = {}
    days = await days_of(store, user_id, utc_days(since, until), kind)
    for (name, _), day in sorted(days.items()):  # oldest first: the last latest is newest
        summary = found.setdefault(name, Summary(name))
        summary.figures.add(day)
        summary.latest = day.latest
    return [found[name] for name in health_rules.KINDS if name in found]


@dataclass
class Point:
    """One period's figures."""

    start: dt.datetime
    end: dt.datetime
    figures: Figures = field(default_factory=Figures)


async def points(
    store: Store,
    user_id: str,
    kind: str,
    period: series.Period,
    since: dt.datetime,
    until: dt.datetime,
) -> list[Point]:
    """Every period holding an instant of [since, until), oldest first, with the samples
    of the whole period (as the activity series counts whole periods: series.py), from
    the rollups of its days (periods are whole UTC days)."""
    found = [Point(p.start, p.end) for p in series.periods(period, since, until)]
    starts = [p.start for p in found]
    days = await days_of(store, user_id, utc_days(found[0].start, found[-1].end), kind)
    for _, day in sorted(days.items()):  # in one order, so a sum is the same each time
        found[bisect.bisect_right(starts, midnight(day.day)) - 1].figures.add(day)
    return found
