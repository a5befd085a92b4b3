"""Health samples in MongoDB: storing a batch once, pages, summaries and series.

One document a sample in `metrics` (store.py). A batch is one unordered insert: samples
whose `_id` (health_rules.record_id) exists fail with a duplicate key and are answered
with the copies stored first, read back by `_id` in one query; the insert decides, so
two concurrent re-syncs store each sample once.

Every read is one user's range of recorded_at on an index (user_id[, metric_type],
recorded_at, _id), projected to what it needs. Costs, in documents returned:
- a page: page size + 1;
- a summary: the samples in its window (at most 365 days), plus one per type for the
  latest sample; they are added up as they stream, so memory does not grow with them;
- a series: the samples of one type in the periods of its range (at most 427 days: a
  366-day range widened to whole months);
- the day totals a batch publishes (events.py): the samples of the days it touched."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from activity_service import health_rules, series
from activity_service.health_rules import SLEEP, Sample
from activity_service.rules import to_millis
from activity_service.store import Doc, Store

NEWEST_FIRST = [("recorded_at", -1), ("_id", -1)]


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


def touched_days(docs: Sequence[Doc], kinds: Sequence[str]) -> list[DayKey]:
    """The (type, day) pairs of some types that stored samples fall on, each once."""
    return sorted({(d["metric_type"], d["day"]) for d in docs if d["metric_type"] in kinds})


async def day_totals(store: Store, user_id: str, keys: Sequence[DayKey]) -> dict[DayKey, float]:
    """Each (type, day)'s sum of values, from every stored sample of it: one query whose
    cost is the samples of those days (a range of recorded_at on the index per pair)."""
    if not keys:
        return {}
    ranges = []
    for kind, day in keys:
        start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), dt.UTC)
        ranges.append(
            {"metric_type": kind, **time_range("recorded_at", start, start + dt.timedelta(days=1))}
        )
    totals = dict.fromkeys(keys, 0.0)
    query = {"user_id": user_id, "$or": ranges}
    async for doc in store.find(store.metrics, query, ["metric_type", "value", "day"]):
        totals[(doc["metric_type"], doc["day"])] += doc["value"]
    return {key: round(total, 4) for key, total in totals.items()}


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
    """Count, sum, min and max of values as they come."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class Summary:
    """One type's figures over a window and its latest sample."""

    kind: str
    figures: Figures = field(default_factory=Figures)
    latest_key: tuple[dt.datetime, str] | None = None
    latest: Doc = field(default_factory=dict)

    def add(self, doc: Mapping[str, Any]) -> None:
        self.figures.add(doc["value"])
        key = (doc["recorded_at"], doc["_id"])
        if self.latest_key is None or key > self.latest_key:
            self.latest_key = key


async def summarize(
    store: Store, user_id: str, kind: str, since: dt.datetime, until: dt.datetime
) -> list[Summary]:
    """Per type with samples in [since, until) (only `kind`, when given), in the order
    of MetricType."""
    query: Doc = {"user_id": user_id, **time_range("recorded_at", since, until)}
    if kind:
        query["metric_type"] = kind
    found: dict[str, Summary] = {}
    fields = ["value", "recorded_at", "metric_type"]
    async for doc in store.find(store.metrics, query, fields):
        summary = found.setdefault(doc["metric_type"], Summary(doc["metric_type"]))
        summary.add(doc)
    keys = {kind: s.latest_key[1] for kind, s in found.items() if s.latest_key}
    latest = await store.by_ids(store.metrics, list(keys.values()))
    for kind, key in keys.items():
        found[kind].latest = latest[key]
    return [found[kind] for kind in health_rules.KINDS if kind in found]


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
    of the whole period (as the activity series counts whole periods: series.py)."""
    found = [Point(p.start, p.end) for p in series.periods(period, since, until)]
    starts = [p.start for p in found]
    query = {
        "user_id": user_id,
        "metric_type": kind,
        **time_range("recorded_at", found[0].start, found[-1].end),
    }
    async for doc in store.find(store.metrics, query, ["value", "recorded_at"]):
        found[bisect.bisect_right(starts, doc["recorded_at"]) - 1].figures.add(doc["value"])
    return found


async def window(
    store: Store, user_id: str, kinds: Sequence[str], since: dt.datetime, until: dt.datetime
) -> list[Doc]:
    """The values and days of some types' samples in [since, until)."""
    query = {
        "user_id": user_id,
        "metric_type": {"$in": list(kinds)},
        **time_range("recorded_at", since, until),
    }
    return [d async for d in store.find(store.metrics, query, ["metric_type", "value", "day"])]


async def edge(
    store: Store, user_id: str, kind: str, since: dt.datetime, until: dt.datetime, newest: bool
) -> Doc | None:
    """The earliest (or newest) sample of a type in [since, until): one document."""
    query = {"user_id": user_id, "metric_type": kind, **time_range("recorded_at", since, until)}
    order = -1 if newest else 1
    sort = [("recorded_at", order), ("_id", order)]
    fields = ["value", "recorded_at"]
    return await anext(aiter(store.find(store.metrics, query, fields, sort, limit=1)), None)
