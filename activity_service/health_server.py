"""gRPC glue of fitmesh.health.v1.HealthService, served beside ActivityService: requests
checked (health_rules.py), then stored or read (metrics.py, meals.py, insights.py), then
answered (health_views.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from activity_service import insights, meals, metrics, series
from activity_service.checks import check_id
from activity_service.events import EventPublisher
from activity_service.health_rules import (
    KINDS,
    MAX_SAMPLES,
    check_client_ids,
    check_meal,
    check_sample,
)
from activity_service.health_views import (
    UNREADABLE,
    day_proto,
    meal_in,
    meal_proto,
    metric_proto,
    metric_type,
    point_proto,
    sample_in,
    summary_proto,
    when,
)
from activity_service.scoring import Scorer
from activity_service.store import Store
from activity_service.workouts import now
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from servicekit import pagination
from servicekit.errors import NotFound, Violations
from servicekit.events import DAY_TOTAL_METRICS
from servicekit.protoenum import enum_name
from servicekit.protofields import timestamp

Context = grpc.aio.ServicerContext[Any, Any]
METRICS_PAGE = {"default": 50, "maximum": 500}
MEALS_PAGE = {"default": 50, "maximum": 200}
MAX_SUMMARY_DAYS = 365
MAX_INSIGHTS = 20


def check_user(v: Violations, user_id: str) -> None:
    check_id(v, "user_id", user_id)


def known_type(v: Violations, field: str, number: int, required: bool) -> str:
    kind = metric_type(number)
    if not kind and (required or number != 0):
        v.add(field, "unknown or missing metric type")
    return kind


def time_range(v: Violations, request: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The request's optional since and until."""
    since, until = when(request, "since"), when(request, "until")
    for name, at in (("since", since), ("until", until)):
        if at == UNREADABLE:
            v.add(name, "is not a time in years 1-9999")
    return since, until


class HealthServicer(health_pb2_grpc.HealthServiceServicer):
    def __init__(self, store: Store, scorer: Scorer, events: EventPublisher) -> None:
        self.store, self.scorer, self.events = store, scorer, events

    async def RecordMetrics(
        self, request: hpb.RecordMetricsRequest, context: Context
    ) -> hpb.RecordMetricsResponse:
        v = Violations()
        check_user(v, request.user_id)
        if not 0 < len(request.samples) <= MAX_SAMPLES:
            v.add("samples", f"1-{MAX_SAMPLES} samples")
            v.raise_if_any()
        at = now()
        samples = [sample_in(s) for s in request.samples]
        for i, (message, sample) in enumerate(zip(request.samples, samples, strict=True)):
            known_type(v, f"samples[{i}].metric_type", message.metric_type, required=True)
            check_sample(v, f"samples[{i}]", sample, at)
        check_client_ids(v, [s.client_id for s in samples])
        v.raise_if_any()
        docs = [metrics.sample_doc(request.user_id, s, at) for s in samples]
        stored = await metrics.record(self.store, docs)
        days = await metrics.roll_up(self.store, request.user_id, (doc for doc, _ in stored))
        await self._publish_day_totals(request.user_id, days)
        return hpb.RecordMetricsResponse(
            metrics=[
                hpb.RecordedMetric(metric=metric_proto(doc), duplicate=repeated)
                for doc, repeated in stored
            ]
        )

    async def _publish_day_totals(
        self, user_id: str, days: dict[metrics.DayKey, metrics.Day]
    ) -> None:
        """The new totals of the days the batch touched, as just rolled up; a batch of
        duplicates too, so a retry after a failed publish publishes them."""
        await self.events.publish_day_totals(user_id, metrics.day_totals(days, DAY_TOTAL_METRICS))

    async def GetMetric(
        self, request: hpb.GetMetricRequest, context: Context
    ) -> hpb.GetMetricResponse:
        v = Violations()
        check_user(v, request.user_id)
        check_id(v, "metric_id", request.metric_id)
        v.raise_if_any()
        doc = await metrics.owned(self.store, request.user_id, request.metric_id)
        if doc is None:
            raise NotFound("no such metric")
        return hpb.GetMetricResponse(metric=metric_proto(doc))

    async def ListMetrics(
        self, request: hpb.ListMetricsRequest, context: Context
    ) -> hpb.ListMetricsResponse:
        v = Violations()
        check_user(v, request.user_id)
        kind = known_type(v, "metric_type", request.metric_type, required=False)
        since, until = time_range(v, request)
        v.raise_if_any()
        limit = pagination.page_size(request.page_size, **METRICS_PAGE)
        after = pagination.decode(request.page_token)
        docs = await metrics.page(self.store, request.user_id, kind, since, until, after, limit + 1)
        docs, token = pagination.split(docs, limit, "recorded_at")
        return hpb.ListMetricsResponse(
            metrics=[metric_proto(d) for d in docs], next_page_token=token
        )

    async def SummarizeMetrics(
        self, request: hpb.SummarizeMetricsRequest, context: Context
    ) -> hpb.SummarizeMetricsResponse:
        v = Violations()
        check_user(v, request.user_id)
        kind = known_type(v, "metric_type", request.metric_type, required=False)
        v.check_range("days", request.days, 1, MAX_SUMMARY_DAYS)
        v.raise_if_any()
        at = now()
        since, end = metrics.last_days(at, request.days)
        found = await metrics.summarize(self.store, request.user_id, kind, since, end)
        return hpb.SummarizeMetricsResponse(
            since=timestamp(since),
            until=timestamp(at),
            summaries=[summary_proto(s) for s in found],
        )

    async def MetricSeries(
        self, request: hpb.MetricSeriesRequest, context: Context
    ) -> hpb.MetricSeriesResponse:
        v = Violations()
        check_user(v, request.user_id)
        kind = known_type(v, "metric_type", request.metric_type, required=True)
        period = series.period_named(enum_name(hpb.Period, request.period))
        if period is None:
            v.add("period", "unknown or missing period")
        since, until = time_range(v, request)
        v.raise_if_any()
        series.check_range(v, since, until)
        v.raise_if_any()
        assert since is not None, "checked above"
        assert until is not None, "checked above"
        assert period is not None, "checked above"
        found = await metrics.points(self.store, request.user_id, kind, period, since, until)
        return hpb.MetricSeriesResponse(
            unit=KINDS[kind].unit, points=[point_proto(p) for p in found]
        )

    async def LogMeal(self, request: hpb.LogMealRequest, context: Context) -> hpb.LogMealResponse:
        v = Violations()
        check_user(v, request.user_id)
        meal = meal_in(request.meal)
        at = now()
        check_meal(v, meal, at)
        v.raise_if_any()
        doc, repeated = await meals.log(self.store, meals.meal_doc(request.user_id, meal, at))
        return hpb.LogMealResponse(meal=meal_proto(doc), duplicate=repeated)

    async def ListMeals(
        self, request: hpb.ListMealsRequest, context: Context
    ) -> hpb.ListMealsResponse:
        v = Violations()
        check_user(v, request.user_id)
        since, until = time_range(v, request)
        v.raise_if_any()
        limit = pagination.page_size(request.page_size, **MEALS_PAGE)
        after = pagination.decode(request.page_token)
        docs = await meals.page(self.store, request.user_id, since, until, after, limit + 1)
        docs, token = pagination.split(docs, limit, "eaten_at")
        days = await meals.days(self.store, request.user_id, (d["day"] for d in docs))
        return hpb.ListMealsResponse(
            meals=[meal_proto(d) for d in docs],
            next_page_token=token,
            days=[day_proto(d) for d in days],
        )

    async def GetInsights(
        self, request: hpb.GetInsightsRequest, context: Context
    ) -> hpb.GetInsightsResponse:
        v = Violations()
        check_user(v, request.user_id)
        v.check_range("limit", request.limit, 0, MAX_INSIGHTS)
        v.raise_if_any()
        figures = await insights.figures(self.store, request.user_id, now())
        ranked = await self.scorer.insights(request.person, figures, request.limit)
        return hpb.GetInsightsResponse(insights=ranked, figures=figures)
