"""Health documents to protos, and request fields to the values the rules check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from activity_service.health_rules import Item, MealIn, Sample
from activity_service.meals import Day
from activity_service.metrics import Figures, Point, Summary
from activity_service.store import Doc
from fitmesh.health.v1 import health_pb2 as hpb
from servicekit.protoenum import enum_name, enum_number
from servicekit.protofields import optional, timestamp, to_datetime

# What a Timestamp beyond a datetime's years becomes: a time the rules refuse as too early.
UNREADABLE = dt.datetime.min.replace(tzinfo=dt.UTC)


def when(message: Any, name: str) -> Any:
    """A Timestamp field as a datetime, None when unset."""
    if not message.HasField(name):
        return None
    try:
        return to_datetime(getattr(message, name))
    except (ValueError, OverflowError):
        return UNREADABLE


def metric_type(number: int) -> str:
    """The short name of a MetricType, or "" for none or an unknown number."""
    return enum_name(hpb.MetricType, number) or ""


def sample_in(s: hpb.MetricSample) -> Sample:
    return Sample(
        kind=metric_type(s.metric_type),
        value=s.value,
        unit=s.unit,
        recorded_at=when(s, "recorded_at"),
        start_time=when(s, "start_time"),
        end_time=when(s, "end_time"),
        client_id=s.client_id,
    )


def meal_in(m: hpb.Meal) -> MealIn:
    return MealIn(
        eaten_at=when(m, "eaten_at"),
        name=m.name,
        calories=m.calories,
        protein_g=m.protein_g,
        carbohydrate_g=m.carbohydrate_g,
        fat_g=m.fat_g,
        items=[Item(i.name, optional(i, "quantity_g"), optional(i, "calories")) for i in m.items],
        client_id=m.client_id,
    )


def metric_proto(doc: Doc) -> hpb.Metric:
    metric = hpb.Metric(
        metric_id=doc["_id"],
        user_id=doc["user_id"],
        metric_type=enum_number(hpb.MetricType, doc["metric_type"]) or 0,  # type: ignore[arg-type]
        value=doc["value"],
        unit=doc["unit"],
        recorded_at=timestamp(doc["recorded_at"]),
        client_id=doc.get("client_id", ""),
    )
    for name in ("start_time", "end_time"):
        if doc.get(name) is not None:
            getattr(metric, name).CopyFrom(timestamp(doc[name]))
    return metric


def _figures(f: Figures) -> dict[str, Any]:
    if not f.count:
        return {"count": 0}
    return {"count": f.count, "min": f.low, "max": f.high, "mean": f.mean}


def summary_proto(s: Summary) -> hpb.MetricSummary:
    return hpb.MetricSummary(
        metric_type=enum_number(hpb.MetricType, s.kind) or 0,  # type: ignore[arg-type]
        unit=s.latest["unit"],
        latest=metric_proto(s.latest),
        **_figures(s.figures),
    )


def point_proto(p: Point) -> hpb.SeriesPoint:
    return hpb.SeriesPoint(start=timestamp(p.start), sum=p.figures.total, **_figures(p.figures))


def meal_proto(doc: Doc) -> hpb.Meal:
    return hpb.Meal(
        meal_id=doc["_id"],
        user_id=doc["user_id"],
        eaten_at=timestamp(doc["eaten_at"]),
        name=doc["name"],
        calories=doc["calories"],
        protein_g=doc["protein_g"],
        carbohydrate_g=doc["carbohydrate_g"],
        fat_g=doc["fat_g"],
        items=[hpb.MealItem(**item) for item in doc["items"]],
        client_id=doc.get("client_id", ""),
    )


def day_proto(d: Day) -> hpb.DailyNutrition:
    return hpb.DailyNutrition(
        date=d.date,
        meals=d.meals,
        calories=d.calories,
        protein_g=d.protein_g,
        carbohydrate_g=d.carbohydrate_g,
        fat_g=d.fat_g,
    )
