"""The figures GetInsights hands to the scoring rules, from a user's recent day rollups
(metrics.py), meals and workouts.

"The last 7 days" are whole UTC days: today and the six before it, so a count of days is
0-7 and no day is cut in half; "the last 30 days" of weight likewise. Reads, in
documents returned: the rollups of every type on the week's 7 days and of weight on the
23 days before them (one equality query a day, so O(days) however many samples a day
has); the week's meals; the totals (1), which hold this ISO week's intensity minutes
(history.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections.abc import Mapping

from activity_service import history, meals, metrics, weeks
from activity_service.metrics import Day, DayKey
from activity_service.store import Store
from fitmesh.scoring.v1 import scoring_pb2 as spb

WEEK_DAYS = 7
WEIGHT_DAYS = 30
WEIGHT = "weight_kg"


def of_kind(days: Mapping[DayKey, Day], kind: str) -> list[Day]:
    """One type's days, oldest first (a night's day is the one it ended on)."""
    return [d for (name, _), d in sorted(days.items()) if name == kind]


def daily_sums(days: list[Day]) -> tuple[float | None, int]:
    """The mean of the days' sums and the number of days; None without days."""
    if not days:
        return None, 0
    return statistics.fmean(d.total for d in days), len(days)


async def figures(store: Store, user_id: str, now: dt.datetime) -> spb.HealthFigures:
    since, until = metrics.last_days(now, WEEK_DAYS)
    weighed_since, _ = metrics.last_days(now, WEIGHT_DAYS)
    week = weeks.name(now)
    days, weighed, eaten, (_, weekly) = await asyncio.gather(
        metrics.days_of(store, user_id, metrics.utc_days(since, until)),
        metrics.days_of(store, user_id, metrics.utc_days(weighed_since, since), WEIGHT),
        meals.window(store, user_id, since, until),
        history.totals_of(store, user_id, week),
    )
    found = spb.HealthFigures(
        week_intensity_minutes=float((weekly or {}).get("intensity_minutes", 0.0)),
        week_day=now.astimezone(dt.UTC).isoweekday(),
    )
    steps, found.step_days = daily_sums(of_kind(days, "steps"))
    water, found.water_days = daily_sums(of_kind(days, "water_ml"))
    sleep, found.sleep_nights = daily_sums(of_kind(days, "sleep_minutes"))
    heart = of_kind(days, "heart_rate_resting")
    found.resting_heart_rate_days = len(heart)
    optional = {
        "mean_daily_steps": steps,
        "mean_daily_water_ml": water,
        "mean_sleep_minutes": sleep,
        "mean_resting_heart_rate": statistics.fmean(d.mean for d in heart) if heart else None,
    }
    if eaten:
        found.meal_days = len(eaten)
        for name in ("protein_g", "carbohydrate_g", "fat_g"):
            optional[f"mean_daily_{name}"] = statistics.fmean(getattr(d, name) for d in eaten)
    weights = of_kind({**weighed, **days}, WEIGHT)
    if weights:
        first, latest = weights[0].first, weights[-1].latest
        optional["first_weight_kg"] = first["value"]
        optional["latest_weight_kg"] = latest["value"]
        found.weight_span_days = (latest["recorded_at"].date() - first["recorded_at"].date()).days
    for name, value in optional.items():
        if value is not None:
            setattr(found, name, value)
    return found
