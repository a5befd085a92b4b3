"""MongoDB access. Uses only what MongoDB 7 and FerretDB 1.x both support: no
transactions, no partial or sparse indexes, no projections on findAndModify.

At most one active workout per user is enforced by a unique index on `active_key`, which
is `active:<user>` while a workout runs and `done:<workout>` once it ended."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from servicekit.errors import Unavailable

Doc = dict[str, Any]
# Idempotency window of the running totals: the ids of the last workouts added to them.
RECENT_WINDOW = 64


def week_key(user_id: str, week: str) -> str:
    """The id of a user's totals for one ISO week (`2026-W47`)."""
    return f"{user_id}:{week}"


P = ParamSpec("P")
T = TypeVar("T")


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
    def __init__(self, url: str, database: str) -> None:
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000
        )
        db = self.client[database]
        self.workouts = db["workouts"]
        self.totals = db["totals"]
        self.weekly = db["weekly_totals"]
        self.group_sessions = db["group_sessions"]

        self._indexed = False

    async def start(self) -> None:
        await self.ping()

    async def stop(self) -> None:
        await self.client.close()

    async def _ensure_indexes(self) -> None:
        # The unique index is what keeps one active workout per user, so the service only
        # reports SERVING once it exists.
        await self.workouts.create_index("active_key", unique=True)
        await self.workouts.create_index(
            [("user_id", ASCENDING), ("start_time", DESCENDING), ("_id", DESCENDING)]
        )
        await self.workouts.create_index("pending")
        self._indexed = True

    async def ping(self) -> bool:
        """Health: MongoDB answers and the indexes exist (made here on first success)."""
        try:
            await self.client.admin.command("ping")
            if not self._indexed:
                await self._ensure_indexes()
        except PyMongoError:
            return False
        return True

    @_reachable
    async def insert_workout(self, doc: Doc) -> bool:
        """False when the user already has an active workout."""
        try:
            await self.workouts.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    @_reachable
    async def active_workout(self, user_id: str) -> Doc | None:
        return await self.workouts.find_one({"active_key": f"active:{user_id}"})

    @_reachable
    async def workout(self, workout_id: str) -> Doc | None:
        return await self.workouts.find_one({"_id": workout_id})

    @_reachable
    async def complete(self, workout_id: str, values: Mapping[str, Any]) -> Doc | None:
        """Move an active workout to completed; None when it was not active any more."""
        return await self.workouts.find_one_and_update(
            {"_id": workout_id, "status": "active"},
            {"$set": {**values, "status": "completed", "active_key": f"done:{workout_id}"}},
            return_document=ReturnDocument.AFTER,
        )

    @_reachable
    async def update(self, workout_id: str, values: Mapping[str, Any]) -> Doc | None:
        return await self.workouts.find_one_and_update(
            {"_id": workout_id}, {"$set": dict(values)}, return_document=ReturnDocument.AFTER
        )

    @_reachable
    async def unfinished(self, limit: int) -> list[Doc]:
        cursor = self.workouts.find({"pending": True, "status": "completed"}).limit(limit)
        return [doc async for doc in cursor]

    @_reachable
    async def page(
        self, query: Mapping[str, Any], after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[Doc]:
        query = dict(query)
        if after is not None:
            at, key = after
            query["$or"] = [{"start_time": {"$lt": at}}, {"start_time": at, "_id": {"$lt": key}}]
        cursor = (
            self.workouts.find(query)
            .sort([("start_time", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    @_reachable
    async def add_to_totals(
        self,
        user_id: str,
        workout_id: str,
        overall: Mapping[str, float],
        week: str,
        weekly: Mapping[str, float],
    ) -> bool:
        """Add one workout to the user's running totals and to its week's, each once (a
        retry after a crash between the two finishes the second): False when the overall
        totals already had it. A week is a document of its own, so a long history never
        makes a read larger."""
        added = await self._add_once(self.totals, user_id, workout_id, overall)
        await self._add_once(self.weekly, week_key(user_id, week), workout_id, weekly)
        return added

    async def _add_once(
        self,
        collection: AsyncCollection[Doc],
        key: str,
        workout_id: str,
        increments: Mapping[str, float],
    ) -> bool:
        try:
            doc = await collection.find_one_and_update(
                {"_id": key, "recent": {"$ne": workout_id}},
                {"$inc": dict(increments), "$push": {"recent": workout_id}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # the filter missed because the id is in `recent`: already added
        if doc is not None and len(doc.get("recent", ())) > RECENT_WINDOW:
            await collection.update_one({"_id": key}, {"$pop": {"recent": -1}})
        return True

    @_reachable
    async def totals_of(self, user_id: str, week: str) -> tuple[Doc | None, Doc | None]:
        """The running totals and one week's."""
        fields = ("total_workouts", "total_duration_seconds", "total_calories_burned", "by_type")
        # Totals written before weeks had documents of their own kept them inside.
        legacy = f"weeks.{week}"
        totals = await self.totals.find_one({"_id": user_id}, dict.fromkeys((*fields, legacy), 1))
        weekly = await self.weekly.find_one({"_id": week_key(user_id, week)}, {"recent": 0})
        if weekly is None and totals is not None:
            weekly = totals.get("weeks", {}).get(week)
        return totals, weekly

    @_reachable
    async def save_group_session(self, doc: Doc) -> None:
        await self.group_sessions.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    @_reachable
    async def group_session(self, session_id: str) -> Doc | None:
        return await self.group_sessions.find_one({"_id": session_id})
