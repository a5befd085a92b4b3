"""Everything the activity process holds of a user, taken out whole (an export) or erased
whole (fitmesh.activity.v1.PersonalDataService).

Both walk one list of where a user's documents are, so a new collection is exported and
erased by adding it there. Group sessions are transcripts.py's: those the user owned go
whole, and in others' only their part goes (or is exported). An export streams: documents
are read in batches by the driver and sent one by one, so its memory does not grow with the
user's history."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection

from activity_service import transcripts, workout_samples
from activity_service.store import Doc, Store
from fitmesh.activity.v1 import personal_data_pb2 as pb

log = structlog.get_logger("personal_data")
# Working state the export leaves out: it is derived (totals, buckets, day rollups) or
# bookkeeping (recovery markers). Erasure deletes it all the same.
DERIVED = ("totals", "settling", "metric_days", "import_queue")


@dataclass(frozen=True)
class Place:
    """A collection and how a user's documents are found in it."""

    kind: str
    collection: str
    query: Mapping[str, Any]


def _id_range(user_id: str) -> dict[str, Any]:
    """Documents whose `_id` starts with the user's id and a colon (week buckets)."""
    return {"_id": {"$gt": f"{user_id}:", "$lt": f"{user_id};"}}


def places(user_id: str, week_collections: list[str]) -> list[Place]:
    mine = {"user_id": user_id}
    return [
        Place("workout", "workouts", mine),
        Place("workout_samples", workout_samples.COLLECTION, mine),
        Place("active_workout", "active", {"_id": user_id}),
        Place("metric", "metrics", mine),
        Place("meal", "meals", mine),
        Place("import", "imports", mine),
        Place("import_queue", "import_queue", mine),
        Place("totals", "totals", {"_id": user_id}),
        Place("settling", "settling", mine),
        Place("metric_days", "metric_days", mine),
        *(Place("week", name, _id_range(user_id)) for name in week_collections),
    ]


def _json(doc: Doc) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value)

    return json.dumps(doc, default=plain, separators=(",", ":"))


class PersonalData:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.transcripts = transcripts.Transcripts(store)

    async def _places(self, user_id: str) -> list[Place]:
        names = await self.store.db.list_collection_names(filter={"name": {"$regex": "^weeks_"}})
        return places(user_id, sorted(names))

    def _collection(self, name: str) -> AsyncCollection[Doc]:
        return self.store.db[name]

    async def export(self, user_id: str) -> AsyncIterator[pb.ExportDataResponse]:
        for place in await self._places(user_id):
            if place.collection in DERIVED or place.kind == "week":
                continue
            async for doc in self.store.find(self._collection(place.collection), place.query):
                yield pb.ExportDataResponse(kind=place.kind, json=_json(doc))
        owned = self.store.find(self.store.group_sessions, {"owner_id": user_id})
        async for doc in owned:
            yield pb.ExportDataResponse(kind="group_session", json=_json(doc))
        # What they said in other people's sessions is theirs too; the rest of those is not.
        async for part in self.transcripts.joined(user_id):
            yield pb.ExportDataResponse(kind="group_session_joined", json=_json(part))

    async def erase(self, user_id: str) -> dict[str, int]:
        deleted: dict[str, int] = {}
        # Files of imports under way are keyed by import: found through the user's imports,
        # so before those go.
        imports = self.store.find(self.store.imports, {"user_id": user_id}, ("_id",))
        ids = [d["_id"] async for d in imports]
        deleted["import_file"] = await self.store.delete_where(
            self.store.import_files, {"_id": {"$in": ids}}
        )
        for place in await self._places(user_id):
            count = await self.store.delete_where(self._collection(place.collection), place.query)
            deleted[place.kind] = deleted.get(place.kind, 0) + count
        deleted["group_session"] = await self.transcripts.erase_owned(user_id)
        # After their own sessions, so only other people's are left to take them out of.
        deleted["group_session_joined"] = await self.transcripts.forget(user_id)
        log.info("user_data_erased", user_id=user_id, deleted=deleted)
        return deleted
