"""The read model of a user's workouts: what ListWorkouts, GetStatistics and
GetActivityScore read, shaped so that a page costs O(page size) documents however long
the history, each found by `_id` (on FerretDB 1.x the only query that does not decode a
whole collection; see store.py).

- Week bucket (`weeks_<YYYY>`, `_id = "<user>:<YYYY-Www>"`): the week's completed
  workouts as a map keyed by workout id, `w.<id>` = the workout without its ids, packed
  as one BSON document in a binary value (buckets written before hold plain documents,
  read alike). Writing an entry is `$set w.<id>`, idempotent: a retry or a late score
  replaces the entry, and a workout is in its week once by construction. The week's sums
  are added up from the entries when read; a bucket holds at most MAX_WEEK entries.
- Totals (`totals`, `_id = user id`): the running sums over all scored workouts (`$inc`),
  those of the weeks around the current one (so statistics read one small document),
  and the set of non-empty weeks, overall and per workout type (bits per ISO year,
  weeks.py; written with `$bit`, idempotent).
- A page reads the totals (1) and the running workout (1), then buckets by `_id`, newest
  week first from the cursor's week back, skipping empty weeks, until the page is full.

A workout is added to the sums once: the sums and a trace are written in one update,
before the workout's scored entry goes to its bucket. A scored entry in the bucket thus
proves the sums have it, and between the two writes the trace does: `last_end` (the last
ended workout; ends of one user never overlap, as a user has one running workout) or
`applying.<id>` (logs and recovery; removed once the entry is in)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Binary, Int64
from bson.codec_options import CodecOptions

from activity_service import weeks
from activity_service.store import Doc, Store
from servicekit.errors import FailedPrecondition, FieldViolation, InvalidArgument

# One ScoreWeek call takes at most 1,000 workouts; a week holding more than that is not
# a person's. At ~500 bytes an entry, a full bucket is ~0.5 MiB, far from 16 MiB.
MAX_WEEK = 1000
SUMS = ("total_workouts", "total_duration_seconds", "total_calories_burned")
# A week's sums stay in the totals from the week before it (a workout may start a little
# ahead of the server's clock) until the week after; each write drops those of the weeks
# up to a year before (after a longer pause a stale week may stay, which nothing reads).
RECENT = (-1, 0, 1)  # weeks from the current one
FORGET = 53
# What a listed workout does not need: its ids (the bucket's key and the map's) and what
# only the workouts collection uses; absent values are left out too, as every bucket is
# read whole and decoding is most of a page's time.
_NOT_IN_ENTRY = {"_id", "user_id", "active_key", "completed_at"}
_OLD_FLAGS = {"pending", "totals_applied", "event_published"}
# Entries are packed because FerretDB 1.x turns every value of a document it reads into
# an object of its own, whatever the projection: a bucket of 84 workouts as documents
# (~20 values each) took ~12 ms to read, most of a page's time; packed, one value each,
# ~4 ms. MongoDB reads either alike. Decoded as the store's client decodes.
_UNPACK: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


class WeekFull(FailedPrecondition, InvalidArgument):
    """A failed precondition described by a field violation (the status mapping attaches
    violations to InvalidArgument and its kin)."""

    def __init__(self, field_name: str, week: str) -> None:
        text = f"ISO week {week} already holds {MAX_WEEK} workouts, the most one week keeps"
        InvalidArgument.__init__(self, [FieldViolation(field_name, text)], text)


def counted(doc: Mapping[str, Any]) -> bool:
    """Whether a workout is in the sums: completed and scored."""
    return doc.get("status") == "completed" and doc.get("score_status") == "scored"


def week_of(doc: Mapping[str, Any]) -> str:
    return weeks.name(doc["start_time"])


def entry(doc: Mapping[str, Any]) -> Binary:
    """A workout as its week's bucket keeps it: packed, less its ids and absent values."""
    kept = {k: v for k, v in doc.items() if k not in _NOT_IN_ENTRY | _OLD_FLAGS}
    kept["athlete"] = {k: v for k, v in kept.get("athlete", {}).items() if v is not None}
    return Binary(bson.encode({k: v for k, v in kept.items() if v is not None}))


def unpacked(held: bytes | Mapping[str, Any]) -> Doc:
    """A bucket's entry as a document (BSON binary decodes to bytes)."""
    return bson.decode(held, _UNPACK) if isinstance(held, bytes) else dict(held)


def workouts_in(user_id: str, bucket: Doc | None) -> list[Doc]:
    """The bucket's workouts as workout documents."""
    items = (bucket or {}).get("w", {}).items()
    return [{**unpacked(e), "_id": workout_id, "user_id": user_id} for workout_id, e in items]


@dataclass
class Contribution:
    """What some workouts add to their user's totals."""

    sums: Counter[str] = field(default_factory=Counter)
    weeks: set[str] = field(default_factory=set)
    type_weeks: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    today: str = field(default_factory=lambda: weeks.name(dt.datetime.now(dt.UTC)))

    def add(self, doc: Mapping[str, Any]) -> None:
        week, kind = week_of(doc), doc["workout_type"]
        self.weeks.add(week)
        self.type_weeks[kind].add(week)
        if counted(doc):
            values = {
                "total_workouts": 1,
                "total_duration_seconds": doc["duration_seconds"],
                "total_calories_burned": doc["score"]["calories_burned"],
            }
            for name, value in values.items():
                self.sums[name] += value
                self.sums[f"by_type.{kind}.{name}"] += value
            if week in self._recent():
                values["intensity_minutes"] = doc["score"]["intensity_minutes"]
                for name, value in values.items():
                    self.sums[f"recent_weeks.{week}.{name}"] += value

    def _recent(self) -> set[str]:
        return {weeks.shift(self.today, n) for n in RECENT}

    def _bits(self) -> dict[str, dict[str, Int64]]:
        bits = {f"week_bits.{y}": m for y, m in weeks.masks(self.weeks).items()}
        for kind, kind_weeks in self.type_weeks.items():
            bits |= {f"type_week_bits.{kind}.{y}": m for y, m in weeks.masks(kind_weeks).items()}
        return {path: {"or": Int64(mask)} for path, mask in bits.items()}

    def increment(self, trace: Mapping[str, Any] | None = None) -> Doc:
        """The update adding this to running totals; `trace` goes with the sums."""
        bits = self._bits()
        update: Doc = {"$bit": bits} if bits else {}  # a deletion adds no week
        if self.sums:
            update["$inc"] = dict(self.sums)
            stale = (weeks.shift(self.today, -n) for n in range(2, FORGET))
            update["$unset"] = {f"recent_weeks.{week}": "" for week in stale}
            if trace:
                update["$set"] = dict(trace)
        return update

    def replacement(self) -> Doc:
        """The update making totals exactly this (a rebuild)."""
        nested: dict[str, defaultdict[str, dict[str, float]]] = {
            "by_type": defaultdict(dict),
            "recent_weeks": defaultdict(dict),
        }
        for path, value in self.sums.items():
            if path.count(".") == 2:
                group, key, name = path.split(".")
                nested[group][key][name] = value
        bits = {
            kind: {y: Int64(m) for y, m in weeks.masks(ws).items()}
            for kind, ws in self.type_weeks.items()
        }
        return {
            "$set": {
                **{name: self.sums.get(name, 0) for name in SUMS},
                **{group: dict(values) for group, values in nested.items()},
                "week_bits": {y: Int64(m) for y, m in weeks.masks(self.weeks).items()},
                "type_week_bits": bits,
                # Traces of work these sums now hold, or not: recovery adds what is left.
                "applying": {},
                "revising": {},
            },
            "$unset": {"recent": "", "weeks": ""},
        }


def difference(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Contribution:
    """What replacing `before` with `after` (None: no workout) changes in its user's totals:
    the sums of `after` less those of `before`, and the weeks of `after`. A week `before`
    leaves empty keeps its bit: a page reads its bucket, finds nothing and goes on."""
    taken, added = Contribution(), Contribution()
    added.today = taken.today  # both sides' recent weeks from one clock reading
    if before is not None:
        taken.add(before)
    if after is not None:
        added.add(after)
    names = set(taken.sums) | set(added.sums)
    changes = {name: added.sums[name] - taken.sums[name] for name in names}
    added.sums = Counter({name: change for name, change in changes.items() if change})
    return added


async def move(store: Store, before: Doc, after: Doc | None) -> None:
    """Put the new version of a workout in its week and take the old one out of a week it
    left (or of its week, when it is deleted). Idempotent."""
    if after is not None:
        await put(store, [after])
    if after is None or week_of(after) != week_of(before):
        unset = {"$unset": {f"w.{before['_id']}": ""}}
        await store.update_bucket(before["user_id"], week_of(before), unset)


async def put(store: Store, docs: Iterable[Mapping[str, Any]]) -> None:
    """Write workouts to their buckets, one update a bucket."""
    by_bucket: defaultdict[tuple[str, str], Doc] = defaultdict(dict)
    for doc in docs:
        by_bucket[doc["user_id"], week_of(doc)][f"w.{doc['_id']}"] = entry(doc)
    for (user_id, week), entries in by_bucket.items():
        await store.update_bucket(user_id, week, {"$set": entries})


async def record(store: Store, doc: Doc, trace: Mapping[str, Any] | None = None) -> None:
    """Add one workout to the read model: totals (with `trace` when it is counted), then
    its bucket."""
    contribution = Contribution()
    contribution.add(doc)

    async def both() -> None:
        await store.update_totals(doc["user_id"], contribution.increment(trace))
        await put(store, [doc])

    await store.in_turn(doc["user_id"], both)  # one lease for both, where they take turns


async def record_many(store: Store, docs: list[Doc]) -> None:
    """Add workouts new to the read model in bulk: one totals update a user, then one
    update a bucket."""
    by_user: defaultdict[str, Contribution] = defaultdict(Contribution)
    for doc in docs:
        by_user[doc["user_id"]].add(doc)
    for user_id, contribution in by_user.items():
        await store.update_totals(user_id, contribution.increment())
    await put(store, docs)


async def count_once(store: Store, doc: Doc) -> bool:
    """Add a stored workout to the read model unless the sums have it already (a retry
    after a crash); True when this call added it to the sums."""
    if await counted_in_totals(store, doc):
        await put(store, [doc])
        return False
    await record(store, doc, applying(doc["_id"]))
    return counted(doc)


def applying(workout_id: str) -> dict[str, bool]:
    return {f"applying.{workout_id}": True}


async def forget_applying(store: Store, user_id: str, workout_id: str) -> None:
    await store.update_totals(user_id, {"$unset": applying(workout_id)})


async def counted_in_totals(store: Store, doc: Doc) -> bool:
    """Whether the sums have this workout already (see the module's docstring)."""
    workout_id = doc["_id"]
    totals = await store.totals_doc(doc["user_id"], ["last_end", f"applying.{workout_id}"])
    traced = (totals or {}).get("applying", {})
    if totals and (totals.get("last_end") == workout_id or workout_id in traced):
        return True
    bucket = await store.bucket(doc["user_id"], week_of(doc))
    held = (bucket or {}).get("w", {}).get(workout_id)
    return held is not None and counted(unpacked(held))


async def check_room(store: Store, user_id: str, week: str, field_name: str) -> None:
    """Refuse a workout its week has no room for: the week's bucket and the user's running
    workout, which joins its week when it ends, share MAX_WEEK."""
    held = set((await store.bucket(user_id, week) or {}).get("w", {}))
    if len(held) >= MAX_WEEK - 1:
        running = await store.active_of(user_id)
        if running and weeks.name(running["start_time"]) == week:
            held.add(running["_id"])
    if len(held) >= MAX_WEEK:
        raise WeekFull(field_name, week)


async def totals_of(store: Store, user_id: str, week: str) -> tuple[Doc | None, Doc | None]:
    """The running totals and those of `week`, the current one, from one document."""
    # Totals written before the current weeks were kept here kept every week inside.
    fields = [*SUMS, "by_type", f"recent_weeks.{week}", f"weeks.{week}"]
    totals = await store.totals_doc(user_id, fields)
    if totals is None:
        return None, None
    weekly = totals.get("recent_weeks", {}).get(week) or totals.get("weeks", {}).get(week)
    return totals, weekly


async def week_workouts(store: Store, user_id: str, week: str) -> list[Doc]:
    """The week's completed, scored workouts."""
    bucket = await store.bucket(user_id, week)
    return [w for w in workouts_in(user_id, bucket) if counted(w)]


@dataclass(frozen=True)
class Query:
    """Which workouts a page lists, newest start first."""

    user_id: str
    limit: int
    after: tuple[dt.datetime, str] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    kind: str = ""

    def wants(self, doc: Mapping[str, Any]) -> bool:
        at = doc["start_time"]
        return (
            (not self.kind or doc["workout_type"] == self.kind)
            and (self.since is None or at >= self.since)
            and (self.until is None or at < self.until)
            and (self.after is None or (at, doc["_id"]) < self.after)
        )

    def week_span(self) -> tuple[str | None, str | None]:
        """The oldest and newest week a page may draw from."""
        newest = [weeks.name(self.after[0])] if self.after else []
        if self.until is not None:
            newest.append(weeks.name(self.until - dt.timedelta(milliseconds=1)))
        oldest = weeks.name(self.since) if self.since else None
        return oldest, min(newest, default=None)


async def page(store: Store, q: Query) -> list[Doc]:
    """Up to `q.limit` workouts (the running one included), reading only the weeks that
    hold workouts, newest first, and stopping once the page is full."""
    try:
        oldest, newest = q.week_span()
    except OverflowError:
        return []
    # The week set and the running workout are independent reads: one round trip's wait.
    path = ["type_week_bits", q.kind] if q.kind else ["week_bits"]
    totals, running = await asyncio.gather(
        store.totals_doc(q.user_id, [".".join(path)]), store.active_of(q.user_id)
    )
    bits = totals or {}
    for key in path:
        bits = bits.get(key, {})
    stored = set(weeks.newest_first(bits, newest, oldest))
    ahead = running if running is not None and q.wants(running) else None
    span = stored | ({weeks.name(ahead["start_time"])} if ahead else set())
    found: list[Doc] = []
    for week in sorted(span, reverse=True):
        docs = []
        if week in stored:
            docs = workouts_in(q.user_id, await store.bucket(q.user_id, week))
        ahead_here = ahead is not None and weeks.name(ahead["start_time"]) == week
        if ahead and ahead_here and all(d["_id"] != ahead["_id"] for d in docs):
            docs.append(ahead)
        docs = sorted((d for d in docs if q.wants(d)), key=_newest_first, reverse=True)
        found += docs[: q.limit - len(found)]
        if len(found) >= q.limit:
            break
    return found


def _newest_first(doc: Doc) -> tuple[dt.datetime, str]:
    return doc["start_time"], doc["_id"]
