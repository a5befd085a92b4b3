"""Where an imported workout's samples are kept: `workout_samples`, one document per workout,
`_id` = workout id, holding its owner and the points (samples.py).

A collection of their own rather than a field of the workout: a workout document is copied
whole, less its ids, into its week's bucket (history.py), and every page of ListWorkouts
decodes whole buckets. At up to IMPORT_MAX_SAMPLES points (~80 KiB at the default 2,000),
samples there would make each page read megabytes, and a week of up to 1,000 imported
workouts would pass MongoDB's 16 MiB document limit. Here they are read only when asked
for, by `_id`, and one document stays far below the limit (the setting's bound: 50,000
points, ~2 MiB).

Written after the workout, by the import that made it (a retry of the import finds them
written and leaves them); dropped when the workout is deleted (revisions.py) and with the
account (personal_data.py). An edit keeps them: the offsets are from the workout's start,
so they stay right when its times change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from activity_service.samples import Sample, from_columns, to_columns
from activity_service.store import Doc, Store

COLLECTION = "workout_samples"


def collection(store: Store) -> AsyncCollection[Doc]:
    return store.db[COLLECTION]


async def prepare(store: Store) -> None:
    # Found by user only to take them out or erase them (personal_data.py).
    await collection(store).create_index([("user_id", 1)])


async def save(
    store: Store, workout: Doc, samples: Sequence[Sample], recorded: int, import_id: str
) -> None:
    """Keep a workout's samples; none kept when there are none."""
    if not samples:
        return
    doc: dict[str, Any] = {
        "_id": workout["_id"],
        "user_id": workout["user_id"],
        "import_id": import_id,
        "recorded": recorded,
        "points": to_columns(samples),
    }
    await store.insert_one(collection(store), doc)  # False: a retry's, already kept


async def of(store: Store, workout_id: str) -> tuple[list[Sample], int] | None:
    """A workout's samples and how many the file had before thinning; None when it has none."""
    doc = await store.one(collection(store), workout_id)
    if doc is None:
        return None
    return from_columns(doc["points"]), int(doc["recorded"])


async def drop(store: Store, workout_id: str) -> None:
    await store.delete_where(collection(store), {"_id": workout_id})
