"""MongoDB access. Uses only what MongoDB 7 and FerretDB 1.x both support: no
transactions, no partial or sparse indexes, no projections on findAndModify.

FerretDB 1.x decodes every document of a collection for any filter but one on `_id`
alone, and even that one its SQL scans the table for (SQLite and PostgreSQL alike: the
query does not match the `_id` index's expression), so a lookup costs in proportion to
its collection's size. Its updates read a document and write it back, so two concurrent
updates of one document can lose one. Hence every document here is reached by `_id`, in
a collection whose size does not grow with one user's history (the week buckets are kept
one collection per ISO year), and whatever must happen once is decided by an insert (a
unique `_id` is atomic on both servers, and an insert checks it with the index):

- `workouts`: completed workouts, `_id` = workout id. Inserting one is what ends a
  workout, so of concurrent ends exactly one wins. A deleted one stays as a tombstone
  (`status: deleted`), so a repeat of the request that made it cannot make it again.
- `active`: the running workout of a user, `_id` = user id: at most one per user.
- `weeks_<YYYY>` and `totals`: the read model (history.py). `weekly_totals`, where
  weeks were kept before, is no longer read (`python -m activity_service rebuild`).
- `settling`: workouts with work left after a failure or a crash (recovery.py), and
  changes of workouts under way (revisions.py), whose marker's insert is what decides which
  of two concurrent changes of one version wins.
- `leases`: on FerretDB, whose updates lose one of two at once (FerretDB/FerretDB#3040), the
  updates of one user's totals and week buckets take turns: each holds the user's lease,
  an insert (`_id` = user id), while it runs. Those updates do meet: two devices or two
  replicas writing for a user, and recovery finishing a workout (after a crash, or an
  outage of scoring or Redis) while the user logs the next. MongoDB applies every update
  atomically and takes no turns.
- `metrics` and `meals`: health samples and meals, one document each, `_id` derived
  from the user and the client's id so a re-sync collides instead of doubling
  (health_rules.py). The exception to reaching documents by `_id`: they are read by
  ranges of time on their indexes (metrics.py, meals.py), so on MongoDB a read touches
  the documents it returns, while FerretDB 1.x on SQLite decodes the collection for it.
  Buckets by `_id` would read less there but lose samples: two devices syncing one day
  would update one bucket at once.
- `metric_days`: each (user, type, UTC day)'s figures, one inserted version per
  recomputation, never updated, read by equality on user, day and type (metrics.py):
  summaries, series, insights and day totals read these, not the samples; only a page
  of samples is still a range.
- `imports` (one per user and file, `_id` derived from both, so the insert decides what is
  a re-import), `import_files` (a file while its import is under way) and `import_queue`
  (imports owed work, found by time like `settling`): imports.py."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import structlog
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from servicekit.errors import Unavailable

log = structlog.get_logger("store")

Doc = dict[str, Any]
P = ParamSpec("P")
DUPLICATE_KEY = 11000
T = TypeVar("T")
# Longer than any one update of the read model takes, on the server too: a lease whose
# holder died, stopped or gave up on an update is taken over after this, so the user's
# writes wait at most that long.
LEASE = dt.timedelta(seconds=5)
LEASE_POLL_SECONDS = 0.005  # then twice as long each time, up to the most
LEASE_POLL_MAX_SECONDS = 0.1
# The users whose lease this task holds.
_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("held", default=frozenset())


def week_key(user_id: str, week: str) -> str:
    """The id of a user's bucket for one ISO week (`2026-W47`)."""
    return f"{user_id}:{week}"


def _reachable(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A lost connection to MongoDB is UNAVAILABLE for the caller, not an internal error."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except ConnectionFailure as exc:
            raise Unavailable("MongoDB is unavailable") from exc

    return call


class Store:
    def __init__(
        self, url: str, database: str, listeners: Sequence[monitoring.CommandListener] = ()
    ) -> None:
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=3000,
            event_listeners=list(listeners),
        )
        self.db = self.client[database]
        self.workouts = self.db["workouts"]
        self.active = self.db["active"]
        self.totals = self.db["totals"]
        self.settling = self.db["settling"]
        self.group_sessions = self.db["group_sessions"]
        self.group_messages = self.db["group_messages"]  # transcripts.py
        self.metrics = self.db["metrics"]
        self.meals = self.db["meals"]
        self.metric_days = self.db["metric_days"]
        self.imports = self.db["imports"]
        self.import_files = self.db["import_files"]
        self.import_queue = self.db["import_queue"]
        self.leases = self.db["leases"]
        # Until start() finds the server is MongoDB: a store used without it takes turns.
        self.atomic_updates = False
        # This process's updates of one user queue here, so one at a time asks for the lease.
        self._queues: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Turns under way, some maybe of callers gone already: finished before the client closes.
        self._turns: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        await self.ping()
        info = await self.client.admin.command("buildInfo")
        self.atomic_updates = "ferretdbVersion" not in info
        # Every read of these is one user's, newest first from a time (metrics.py, meals.py).
        # A user's workouts are found by user only to take them out or erase them.
        await self.workouts.create_index([("user_id", 1)])
        await self.metrics.create_index([("user_id", 1), ("recorded_at", -1), ("_id", -1)])
        await self.metrics.create_index(
            [("user_id", 1), ("metric_type", 1), ("recorded_at", -1), ("_id", -1)]
        )
        # A day's samples, added up after each write (metrics.py).
        await self.metrics.create_index([("user_id", 1), ("metric_type", 1), ("day", 1)])
        # Day rollups, read per day (every type, or one) and pruned below a count.
        await self.metric_days.create_index(
            [("user_id", 1), ("day", 1), ("metric_type", 1), ("count", -1)]
        )
        await self.meals.create_index([("user_id", 1), ("eaten_at", -1), ("_id", -1)])
        await self.meals.create_index([("user_id", 1), ("day", 1)])
        # The sessions a user took part in, newest first: owned, and joined (transcripts.py);
        # their prefixes also find a person's archives and chat to export or erase them.
        for who in ("owner_id", "member_ids"):
            await self.group_sessions.create_index([(who, 1), ("started_at", -1), ("_id", -1)])
        await self.group_messages.create_index([("user_id", 1)])

    async def stop(self) -> None:
        await asyncio.gather(*self._turns, return_exceptions=True)
        await self.client.close()

    async def ping(self) -> bool:
        """Health: MongoDB answers."""
        try:
            await self.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    # Workouts.

    @_reachable
    async def insert_workout(self, doc: Doc) -> bool:
        """False when a workout with this id is stored already."""
        return await _insert(self.workouts, doc)

    @_reachable
    async def insert_workouts(self, docs: Sequence[Doc]) -> None:
        """Store workouts that are new, in one command (a bulk load)."""
        await self.workouts.insert_many(list(docs), ordered=False)

    @_reachable
    async def workout(self, workout_id: str) -> Doc | None:
        return await self.workouts.find_one({"_id": workout_id})

    @_reachable
    async def replace_workout(self, doc: Doc) -> None:
        """Store a new version of a workout (or its tombstone) in place of the old."""
        await self.workouts.replace_one({"_id": doc["_id"]}, doc)

    @_reachable
    async def set_workout(self, workout_id: str, values: Mapping[str, Any]) -> None:
        await self.workouts.update_one({"_id": workout_id}, {"$set": dict(values)})

    async def scan_workouts(self, batch: int) -> AsyncIterator[Doc]:
        """Every workout, read once in batches (a rebuild)."""
        async for doc in self.workouts.find({}, batch_size=batch):
            yield doc

    @_reachable
    async def delete_workout(self, workout_id: str) -> None:
        await self.workouts.delete_one({"_id": workout_id})

    # Running workouts.

    @_reachable
    async def start_active(self, workout: Doc) -> bool:
        """False when the user has a running workout already."""
        return await _insert(self.active, {"_id": workout["user_id"], "workout": workout})

    @_reachable
    async def active_of(self, user_id: str) -> Doc | None:
        """The user's running workout."""
        found = await self.active.find_one({"_id": user_id})
        return found["workout"] if found else None

    @_reachable
    async def release_active(self, user_id: str, workout_id: str) -> None:
        await self.active.delete_one({"_id": user_id, "workout._id": workout_id})

    @_reachable
    async def actives(self, limit: int) -> list[Doc]:
        return [d["workout"] async for d in self.active.find({}).limit(limit)]

    # The read model.

    def weeks(self, week: str) -> AsyncCollection[Doc]:
        """The collection of the week buckets of `week`'s ISO year."""
        return self.db[f"weeks_{week[:4]}"]

    @_reachable
    async def bucket(self, user_id: str, week: str) -> Doc | None:
        return await self.weeks(week).find_one({"_id": week_key(user_id, week)})

    @_reachable
    async def update_bucket(self, user_id: str, week: str, update: Mapping[str, Any]) -> None:
        await self.in_turn(
            user_id, lambda: _upsert(self.weeks(week), week_key(user_id, week), update)
        )

    @_reachable
    async def totals_doc(self, user_id: str, fields: list[str] | None = None) -> Doc | None:
        projection = dict.fromkeys(fields, 1) if fields is not None else None
        return await self.totals.find_one({"_id": user_id}, projection)

    @_reachable
    async def update_totals(self, user_id: str, update: Mapping[str, Any]) -> None:
        await self.in_turn(user_id, lambda: _upsert(self.totals, user_id, update))

    async def in_turn(self, user_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` holding the user's lease (see `leases` above); the updates inside,
        held already, take no other.

        The work runs to its end even when its caller is cancelled (a deadline passed):
        cut off mid-update, it would leave the lease to expire, and every later writer of
        the user, waiting for it, would run out of time in turn."""
        if self.atomic_updates or user_id in _HELD.get():
            return await work()
        turn = asyncio.ensure_future(self._turn(user_id, work))
        self._turns.add(turn)
        turn.add_done_callback(self._turns.discard)
        return await asyncio.shield(turn)

    async def _turn(self, user_id: str, work: Callable[[], Awaitable[T]]) -> T:
        queue = self._queues.get(user_id) or self._queues.setdefault(user_id, asyncio.Lock())
        async with queue:
            lease = {"_id": user_id, "token": uuid.uuid4().hex}
            try:
                await self._take(lease)
            except BaseException:  # cancelled: its insert may have landed, and nothing else
                await asyncio.shield(self._give_back(lease))
                raise
            token = _HELD.set(_HELD.get() | {user_id})
            try:
                done = await work()
            except BaseException:
                # A failed update may still be running on the server: given back now, the
                # lease would let the next writer in beside it. It expires instead.
                log.warning("lease_left_to_expire", user_id=user_id)
                raise
            finally:
                _HELD.reset(token)
            await self._give_back(lease)
            return done

    @_reachable
    async def _take(self, lease: Doc) -> None:
        pause = LEASE_POLL_SECONDS
        while not await _insert(self.leases, {**lease, "until": dt.datetime.now(dt.UTC) + LEASE}):
            held = await self.leases.find_one({"_id": lease["_id"]})
            if held is not None and held["until"] < dt.datetime.now(dt.UTC):
                # Its holder died, gave up on an update, or stopped: logged, as a holder
                # that only stopped may still write when it continues.
                log.warning(
                    "lease_taken_over", user_id=lease["_id"], until=held["until"].isoformat()
                )
                await self.leases.delete_one({"_id": lease["_id"], "token": held["token"]})
                continue
            await asyncio.sleep(pause)
            pause = min(pause * 2, LEASE_POLL_MAX_SECONDS)

    @_reachable
    async def _give_back(self, lease: Doc) -> None:
        await self.leases.delete_one(lease)

    # Work left to do.

    @_reachable
    async def add_marker(self, marker: Doc) -> bool:
        """False when this marker exists already."""
        return await _insert(self.settling, marker)

    @_reachable
    async def drop_marker(self, marker_id: str) -> bool:
        """True for the one caller that removed it."""
        return (await self.settling.delete_one({"_id": marker_id})).deleted_count == 1

    @_reachable
    async def set_marker(self, marker_id: str, values: Mapping[str, Any]) -> None:
        await self.settling.update_one({"_id": marker_id}, {"$set": dict(values)})

    @_reachable
    async def markers_of(self, workout_id: str) -> list[Doc]:
        """The work left on one workout (`settling` holds only work left, so it stays small)."""
        return [doc async for doc in self.settling.find({"workout_id": workout_id})]

    @_reachable
    async def due_markers(self, now: dt.datetime, limit: int) -> list[Doc]:
        cursor = self.settling.find({"ready_at": {"$lte": now}}).limit(limit)
        return [doc async for doc in cursor]

    # Group sessions.

    @_reachable
    async def save_group_session(self, doc: Doc) -> None:
        await self.group_sessions.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    @_reachable
    async def group_session(self, session_id: str) -> Doc | None:
        return await self.group_sessions.find_one({"_id": session_id})

    # Documents by `_id`, in any collection (workout imports).

    @_reachable
    async def insert_one(self, collection: AsyncCollection[Doc], doc: Doc) -> bool:
        """False when a document with this `_id` is stored already."""
        return await _insert(collection, doc)

    @_reachable
    async def one(self, collection: AsyncCollection[Doc], key: str) -> Doc | None:
        return await collection.find_one({"_id": key})

    @_reachable
    async def set_fields(
        self, collection: AsyncCollection[Doc], key: str, values: Mapping[str, Any]
    ) -> None:
        await collection.update_one({"_id": key}, {"$set": dict(values)})

    @_reachable
    async def due(
        self, collection: AsyncCollection[Doc], now: dt.datetime, limit: int
    ) -> list[Doc]:
        """Documents whose `ready_at` has come (work owed), at most `limit`."""
        cursor = collection.find({"ready_at": {"$lte": now}}).limit(limit)
        return [doc async for doc in cursor]

    # Health samples and meals.

    @_reachable
    async def insert_new(self, collection: AsyncCollection[Doc], docs: Sequence[Doc]) -> set[int]:
        """Insert `docs` in one command; the positions of those whose `_id` was stored
        already (and were not written)."""
        try:
            await collection.insert_many(list(docs), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    @_reachable
    async def by_ids(self, collection: AsyncCollection[Doc], ids: Sequence[str]) -> dict[str, Doc]:
        found = collection.find({"_id": {"$in": list(ids)}})
        return {doc["_id"]: doc async for doc in found}

    @_reachable
    async def insert_version(self, collection: AsyncCollection[Doc], doc: Doc) -> bool:
        """False when a document with this `_id` is stored already (that version exists)."""
        return await _insert(collection, doc)

    @_reachable
    async def delete_where(self, collection: AsyncCollection[Doc], query: Mapping[str, Any]) -> int:
        """How many documents matching `query` were deleted."""
        return (await collection.delete_many(dict(query))).deleted_count

    async def find(
        self,
        collection: AsyncCollection[Doc],
        query: Mapping[str, Any],
        projection: Sequence[str] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        limit: int = 0,
    ) -> AsyncIterator[Doc]:
        """The matching documents one by one, so a caller adding them up holds none."""
        fields = dict.fromkeys(projection, 1) if projection is not None else None
        cursor = collection.find(dict(query), fields, sort=sort, limit=limit)
        try:
            async for doc in cursor:
                yield doc
        except ConnectionFailure as exc:
            raise Unavailable("MongoDB is unavailable") from exc


async def _insert(collection: AsyncCollection[Doc], doc: Doc) -> bool:
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def _upsert(collection: AsyncCollection[Doc], key: str, update: Mapping[str, Any]) -> None:
    """Update the document `key`, making it when there is none. Two first writes of one
    document race to insert it and one loses with a duplicate key (FerretDB does not retry
    that itself): by then the document exists, so the loser's update applies as it is."""
    try:
        await collection.update_one({"_id": key}, dict(update), upsert=True)
    except DuplicateKeyError:
        await collection.update_one({"_id": key}, dict(update))
