"""The health service, as the routes see it: metric samples, meals, series and insights.
It is served by the activity service's replicas, so it shares their channel and breaker."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway import health_responses as out
from gateway.clients.backend import Backend
from gateway.errors import ApiError
from gateway.health_bodies import MealIn, MetricIn
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

SERVICE = "fitmesh.health.v1.HealthService"
# Writes carry a client id (the gateway makes one when the client gave none), which
# makes a repeat harmless.
IDEMPOTENT = (
    "RecordMetrics",
    "GetMetric",
    "ListMetrics",
    "SummarizeMetrics",
    "MetricSeries",
    "LogMeal",
    "ListMeals",
    "GetInsights",
)
_SAMPLE = re.compile(r"^samples\[(\d+)\]")


def metric_type(name: str | None) -> hpb.MetricType.ValueType:
    return enum_number(hpb.MetricType, name or "") or 0  # type: ignore[return-value]


def period(name: str) -> hpb.Period.ValueType:
    return enum_number(hpb.Period, name) or 0  # type: ignore[return-value]


def _sample(body: MetricIn) -> hpb.MetricSample:
    sample = hpb.MetricSample(
        metric_type=metric_type(body.metric_type),
        value=body.value,
        unit=body.unit or "",
        client_id=body.client_id or uuid.uuid4().hex,
    )
    for name in ("recorded_at", "start_time", "end_time"):
        if (at := getattr(body, name)) is not None:
            getattr(sample, name).CopyFrom(timestamp(at))
    return sample


def _range(
    request: hpb.ListMetricsRequest
    | hpb.ListMealsRequest
    | hpb.MetricSeriesRequest
    | apb.ActivitySeriesRequest,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    if since is not None:
        request.since.CopyFrom(timestamp(since))
    if until is not None:
        request.until.CopyFrom(timestamp(until))


def _in_body(error: ApiError, batch: bool) -> ApiError:
    """Field paths as the REST body has them: `samples[3].value` is `3.value` of a batch
    (as the gateway's own validation names it) and `value` of a single sample."""
    for e in error.errors or []:
        e["field"] = _SAMPLE.sub(lambda m: m.group(1) if batch else "", e["field"]).lstrip(".")
    return error


class Health:
    def __init__(self, backend: Backend, scoring: Backend) -> None:
        self.backend, self.scoring = backend, scoring
        self.stub = health_pb2_grpc.HealthServiceStub(backend.channel)
        self.activity = activity_pb2_grpc.ActivityServiceStub(backend.channel)

    async def record(self, user_id: str, samples: list[MetricIn], batch: bool) -> out.MetricBatch:
        request = hpb.RecordMetricsRequest(user_id=user_id, samples=[_sample(s) for s in samples])
        try:
            reply = await self.backend.call(self.stub.RecordMetrics, request)
        except ApiError as error:
            raise _in_body(error, batch) from error
        return out.MetricBatch.from_proto(reply)

    async def metric(self, user_id: str, metric_id: str) -> out.Metric:
        reply = await self.backend.call(
            self.stub.GetMetric, hpb.GetMetricRequest(user_id=user_id, metric_id=metric_id)
        )
        return out.Metric.from_proto(reply.metric)

    async def metrics(
        self,
        user_id: str,
        kind: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
        cursor: str | None,
    ) -> out.MetricPage:
        request = hpb.ListMetricsRequest(
            user_id=user_id, metric_type=metric_type(kind), page_size=limit, page_token=cursor or ""
        )
        _range(request, since, until)
        reply = await self.backend.call(self.stub.ListMetrics, request)
        return out.MetricPage(
            items=[out.Metric.from_proto(m) for m in reply.metrics],
            next_cursor=reply.next_page_token or None,
        )

    async def summary(self, user_id: str, days: int, kind: str | None) -> out.Summary:
        reply = await self.backend.call(
            self.stub.SummarizeMetrics,
            hpb.SummarizeMetricsRequest(user_id=user_id, days=days, metric_type=metric_type(kind)),
        )
        return out.Summary.from_proto(days, reply)

    async def series(
        self, user_id: str, kind: str, every: str, since: dt.datetime, until: dt.datetime
    ) -> out.MetricSeries:
        request = hpb.MetricSeriesRequest(
            user_id=user_id, metric_type=metric_type(kind), period=period(every)
        )
        _range(request, since, until)
        reply = await self.backend.call(self.stub.MetricSeries, request)
        return out.MetricSeries.from_proto(kind, every, reply)

    async def activity_series(
        self, user_id: str, every: str, since: dt.datetime, until: dt.datetime
    ) -> out.ActivitySeries:
        request = apb.ActivitySeriesRequest(user_id=user_id, period=period(every))
        _range(request, since, until)
        reply = await self.backend.call(self.activity.ActivitySeries, request)
        return out.ActivitySeries.from_proto(every, reply)

    async def log_meal(self, user_id: str, body: MealIn) -> out.LoggedMeal:
        meal = hpb.Meal(
            eaten_at=timestamp(body.eaten_at),
            name=body.name,
            calories=body.calories,
            protein_g=body.protein_g,
            carbohydrate_g=body.carbohydrate_g,
            fat_g=body.fat_g,
            items=[hpb.MealItem(**i.model_dump(exclude_none=True)) for i in body.items],
            client_id=body.client_id or uuid.uuid4().hex,
        )
        reply = await self.backend.call(
            self.stub.LogMeal, hpb.LogMealRequest(user_id=user_id, meal=meal)
        )
        return out.LoggedMeal(
            **out.Meal.from_proto(reply.meal).model_dump(), duplicate=reply.duplicate
        )

    async def meals(
        self,
        user_id: str,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
        cursor: str | None,
    ) -> out.MealPage:
        request = hpb.ListMealsRequest(user_id=user_id, page_size=limit, page_token=cursor or "")
        _range(request, since, until)
        return out.MealPage.from_proto(await self.backend.call(self.stub.ListMeals, request))

    async def insights(
        self, user_id: str, person: spb.Person, limit: int
    ) -> hpb.GetInsightsResponse:
        return await self.backend.call(
            self.stub.GetInsights,
            hpb.GetInsightsRequest(user_id=user_id, person=person, limit=limit),
            through=self.scoring,
        )
