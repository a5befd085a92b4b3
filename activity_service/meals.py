"""Meals in MongoDB: logging one once, pages with their days' totals, and daily sums.

One document a meal in `meals` (store.py), its `_id` derived from the user and the
client's id like a sample's, so a repeated log inserts nothing and answers with the
first copy. Each meal keeps its UTC `day`, which the totals are read by. Costs, in
documents returned: a log, 1 (and 1 more for a repeat); a page, page size + 1 and the
meals of the at most page-size days it shows (whole days, whatever the page's range)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from activity_service import health_rules
from activity_service.health_rules import MealIn
from activity_service.metrics import time_range
from activity_service.rules import to_millis
from activity_service.store import Doc, Store

NEWEST_FIRST = [("eaten_at", -1), ("_id", -1)]
MACROS = ("calories", "protein_g", "carbohydrate_g", "fat_g")


def meal_doc(user_id: str, m: MealIn, created_at: dt.datetime) -> Doc:
    """The document of a valid meal."""
    assert m.eaten_at is not None, "a valid meal has a time"
    eaten_at = to_millis(m.eaten_at)
    items = [{k: v for k, v in vars(item).items() if v is not None} for item in m.items]
    return {
        "_id": health_rules.record_id("meal", user_id, m.client_id),
        "user_id": user_id,
        "eaten_at": eaten_at,
        "day": health_rules.day(eaten_at),
        "name": m.name,
        **{name: getattr(m, name) for name in MACROS},
        "items": items,
        "client_id": m.client_id,
        "created_at": created_at,
    }


async def log(store: Store, doc: Doc) -> tuple[Doc, bool]:
    """The stored meal and whether it was stored before."""
    if not await store.insert_new(store.meals, [doc]):
        return doc, False
    first = await store.by_ids(store.meals, [doc["_id"]])
    return first[doc["_id"]], True


async def page(
    store: Store,
    user_id: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Doc]:
    """Up to `limit` meals, newest first."""
    query = {"user_id": user_id, **time_range("eaten_at", since, until, after)}
    return [doc async for doc in store.find(store.meals, query, sort=NEWEST_FIRST, limit=limit)]


@dataclass
class Day:
    """One UTC day's meals added up."""

    date: str
    meals: int = 0
    calories: float = 0.0
    protein_g: float = 0.0
    carbohydrate_g: float = 0.0
    fat_g: float = 0.0

    def add(self, doc: Mapping[str, Any]) -> None:
        self.meals += 1
        for name in MACROS:
            setattr(self, name, getattr(self, name) + doc.get(name, 0.0))


def add_up(docs: Iterable[Mapping[str, Any]]) -> dict[str, Day]:
    """Meals by day."""
    days: dict[str, Day] = {}
    for doc in docs:
        days.setdefault(doc["day"], Day(doc["day"])).add(doc)
    return days


async def days(store: Store, user_id: str, dates: Iterable[str]) -> list[Day]:
    """The totals of every meal of these days, newest day first."""
    wanted = sorted(set(dates), reverse=True)
    if not wanted:
        return []
    query = {"user_id": user_id, "day": {"$in": wanted}}
    found = add_up([d async for d in store.find(store.meals, query, ["day", *MACROS])])
    return [found[date] for date in wanted if date in found]


async def window(store: Store, user_id: str, since: dt.datetime, until: dt.datetime) -> list[Day]:
    """The days with meals in [since, until), added up."""
    query = {"user_id": user_id, **time_range("eaten_at", since, until)}
    found = add_up([d async for d in store.find(store.meals, query, ["day", *MACROS])])
    return list(found.values())
