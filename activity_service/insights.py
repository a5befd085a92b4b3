"""The figures GetInsights hands to the scoring rules, from a user's recent samples,
meals and workouts.

"The last 7 days" are whole UTC days: today and the six before it, so a count of days is
0-7 and no day is cut in half; "the last 30 days" of weight likewise. Reads, in
documents returned: the week's steps, water, sleep and resting heart rate samples; the
earliest and the latest weight (1 each); the week's meals; the totals (1), which hold
this ISO week's intensity minutes (history.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from activity_service import history, meals, metrics, weeks
from activity_service.store import Store
from fitmesh.scoring.v1 import scoring_pb2 as spb

WEEK_DAYS = 7
WEIGHT_DAYS = 30
DAILY = ("steps", "water_ml", "sleep_minutes", "heart_rate_resting")


def last_days(now: dt.datetime, count: int) -> tuple[dt.datetime, dt.datetime]:
    """From 00:00 UTC `count - 1` days before today to the end of today."""
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
    return today - dt.timedelta(days=count - 1), today + dt.timedelta(days=1)


def by_day(docs: Iterable[Mapping[str, Any]], kind: str) -> dict[str, list[float]]:
    """One type's values per UTC day (a night's day is the one it ended on)."""
    days: defaultdict[str, list[float]] = defaultdict(list)
    for doc in docs:
        if doc["metric_type"] == kind:
            days[doc["day"]].append(doc["value"])
    return days


def daily_sums(days: Mapping[str, list[float]]) -> tuple[float | None, int]:
    """The mean of the days' sums and the number of days; None without days."""
    if not days:
        return None, 0
    return statistics.fmean(sum(values) for values in days.values()), len(days)


async def figures(store: Store, user_id: str, now: dt.datetime) -> spb.HealthFigures:
    since, until = last_days(now, WEEK_DAYS)
    weighed_since, _ = last_days(now, WEIGHT_DAYS)
    week = weeks.name(now)
    samples, first, latest, eaten, (_, weekly) = await asyncio.gather(
        metrics.window(store, user_id, DAILY, since, until),
        metrics.edge(store, user_id, "weight_kg", weighed_since, until, newest=False),
        metrics.edge(store, user_id, "weight_kg", weighed_since, until, newest=True),
        meals.window(store, user_id, since, until),
        history.totals_of(store, user_id, week),
    )
    found = spb.HealthFigures(
        week_intensity_minutes=float((weekly or {}).get("intensity_minutes", 0.0)),
        week_day=now.astimezone(dt.UTC).isoweekday(),
    )
    steps, found.step_days = daily_sums(by_day(samples, "steps"))
    water, found.water_days = daily_sums(by_day(samples, "water_ml"))
    sleep, found.sleep_nights = daily_sums(by_day(samples, "sleep_minutes"))
    heart = by_day(samples, "heart_rate_resting")
    found.resting_heart_rate_days = len(heart)
    optional = {
        "mean_daily_steps": steps,
        "mean_daily_water_ml": water,
        "mean_sleep_minutes": sleep,
        "mean_resting_heart_rate": (
            statistics.fmean(statistics.fmean(v) for v in heart.values()) if heart else None
        ),
    }
    if eaten:
        found.meal_days = len(eaten)
        for name in ("protein_g", "carbohydrate_g", "fat_g"):
            optional[f"mean_daily_{name}"] = statistics.fmean(getattr(d, name) for d in eaten)
    if first is not None and latest is not None:
        optional["first_weight_kg"] = first["value"]
        optional["latest_weight_kg"] = latest["value"]
        found.weight_span_days = (latest["recorded_at"].date() - first["recorded_at"].date()).days
    for name, value in optional.items():
        if value is not None:
            setattr(found, name, value)
    return found
