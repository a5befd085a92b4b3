"""Response bodies of the health routes, each made from its proto."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway.health_bodies import MetricType
from gateway.responses import proto_fields, when
from servicekit.protoenum import enum_name
from servicekit.protofields import to_datetime

Severity = Literal["info", "warning", "alert"]


class Metric(BaseModel):
    metric_id: str
    user_id: str
    metric_type: MetricType
    value: float
    unit: str
    recorded_at: dt.datetime
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    client_id: str

    @classmethod
    def from_proto(cls, m: hpb.Metric) -> Metric:
        return cls(
            metric_id=m.metric_id,
            user_id=m.user_id,
            metric_type=enum_name(hpb.MetricType, m.metric_type),
            value=m.value,
            unit=m.unit,
            recorded_at=to_datetime(m.recorded_at),
            start_time=when(m, "start_time"),
            end_time=when(m, "end_time"),
            client_id=m.client_id,
        )


class RecordedMetric(Metric):
    duplicate: bool = Field(
        description="True when a record with this client_id was stored before; nothing was written."
    )

    @classmethod
    def from_recorded(cls, r: hpb.RecordedMetric) -> RecordedMetric:
        return cls(**Metric.from_proto(r.metric).model_dump(), duplicate=r.duplicate)


class MetricBatch(BaseModel):
    items: list[RecordedMetric]
    stored: int = Field(description="Samples written by this call.")
    duplicates: int = Field(description="Samples stored before, not written again.")

    @classmethod
    def from_proto(cls, reply: hpb.RecordMetricsResponse) -> MetricBatch:
        items = [RecordedMetric.from_recorded(r) for r in reply.metrics]
        repeats = sum(i.duplicate for i in items)
        return cls(items=items, stored=len(items) - repeats, duplicates=repeats)


class MetricPage(BaseModel):
    items: list[Metric]
    next_cursor: str | None


class MetricSummary(BaseModel):
    metric_type: MetricType
    unit: str
    count: int
    min: float
    max: float
    mean: float
    latest: Metric

    @classmethod
    def from_proto(cls, s: hpb.MetricSummary) -> MetricSummary:
        return cls(
            metric_type=enum_name(hpb.MetricType, s.metric_type),
            unit=s.unit,
            count=s.count,
            min=s.min,
            max=s.max,
            mean=s.mean,
            latest=Metric.from_proto(s.latest),
        )


class Summary(BaseModel):
    days: int
    since: dt.datetime
    until: dt.datetime
    summaries: list[MetricSummary] = Field(description="Types with no samples are left out.")

    @classmethod
    def from_proto(cls, days: int, reply: hpb.SummarizeMetricsResponse) -> Summary:
        return cls(
            days=days,
            since=to_datetime(reply.since),
            until=to_datetime(reply.until),
            summaries=[MetricSummary.from_proto(s) for s in reply.summaries],
        )


class SeriesPoint(BaseModel):
    start: dt.datetime
    count: int
    sum: float
    min: float
    max: float
    mean: float


class MetricSeries(BaseModel):
    metric_type: MetricType
    period: str
    unit: str
    points: list[SeriesPoint] = Field(description="Every period of the range, oldest first.")

    @classmethod
    def from_proto(
        cls, metric_type: str, period: str, reply: hpb.MetricSeriesResponse
    ) -> MetricSeries:
        points = [
            SeriesPoint(**(proto_fields(p) | {"start": to_datetime(p.start)})) for p in reply.points
        ]
        return cls(metric_type=metric_type, period=period, unit=reply.unit, points=points)


class ActivityPoint(BaseModel):
    start: dt.datetime
    workouts: int
    active_minutes: float
    intensity_minutes: float
    score: float = Field(description="Progress to 150 intensity minutes a week, pro-rated.")
    distance_m: float
    calories_burned: float


class ActivitySeries(BaseModel):
    period: str
    points: list[ActivityPoint] = Field(description="Every period of the range, oldest first.")

    @classmethod
    def from_proto(cls, period: str, reply: apb.ActivitySeriesResponse) -> ActivitySeries:
        points = [
            ActivityPoint(**(proto_fields(p) | {"start": to_datetime(p.start)}))
            for p in reply.points
        ]
        return cls(period=period, points=points)


class MealItem(BaseModel):
    name: str
    quantity_g: float | None = None
    calories: float | None = None


class Meal(BaseModel):
    meal_id: str
    user_id: str
    eaten_at: dt.datetime
    name: str
    calories: float
    protein_g: float
    carbohydrate_g: float
    fat_g: float
    items: list[MealItem]
    client_id: str

    @classmethod
    def from_proto(cls, m: hpb.Meal) -> Meal:
        fields = proto_fields(m) | {"eaten_at": to_datetime(m.eaten_at)}
        return cls(**fields)


class LoggedMeal(Meal):
    duplicate: bool


class DailyNutrition(BaseModel):
    date: str
    meals: int
    calories: float
    protein_g: float
    carbohydrate_g: float
    fat_g: float


class MealPage(BaseModel):
    items: list[Meal]
    days: list[DailyNutrition] = Field(
        description="Whole-day totals of the days this page has meals on, newest first."
    )
    next_cursor: str | None

    @classmethod
    def from_proto(cls, reply: hpb.ListMealsResponse) -> MealPage:
        return cls(
            items=[Meal.from_proto(m) for m in reply.meals],
            days=[DailyNutrition(**proto_fields(d)) for d in reply.days],
            next_cursor=reply.next_page_token or None,
        )


class Evidence(BaseModel):
    name: str
    value: float
    unit: str


class Insight(BaseModel):
    rank: int
    kind: str
    severity: Severity
    message: str
    evidence: list[Evidence]
    source: str = Field(description="The guidance the threshold comes from.")

    @classmethod
    def from_proto(cls, i: spb.Insight) -> Insight:
        return cls(
            rank=i.rank,
            kind=enum_name(spb.InsightKind, i.kind) or "unspecified",
            severity=enum_name(spb.Severity, i.severity) or "info",
            message=i.message,
            evidence=[Evidence(name=e.name, value=e.value, unit=e.unit) for e in i.evidence],
            source=i.source,
        )


class Recommendations(BaseModel):
    user_id: str
    items: list[Insight] = Field(description="At most 5, most important first.")


class HealthInsights(BaseModel):
    user_id: str
    items: list[Insight] = Field(description="Most important first.")
    figures: dict[str, float | int] = Field(
        description="The figures the rules saw: 7-day means and day counts, the 30-day "
        "weight span, this week's intensity minutes."
    )

    @classmethod
    def from_proto(cls, user_id: str, reply: hpb.GetInsightsResponse) -> HealthInsights:
        return cls(
            user_id=user_id,
            items=[Insight.from_proto(i) for i in reply.insights],
            figures=proto_fields(reply.figures),
        )
