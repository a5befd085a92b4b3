"""Health metrics, meals, trends and insights. Summaries and insights are served from the
shared cache; a write forgets what it changes, so a reader always sees their own writes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import Discriminator, Field, Tag

from gateway import health_responses as out
from gateway.audit import audited
from gateway.bodies import Instant
from gateway.deps import Authenticated, CachedRead, CachedReadOf, Svc
from gateway.errors import ApiError
from gateway.health_bodies import MAX_BATCH, METRIC_EXAMPLES, MealIn, MetricIn, MetricType, Period
from gateway.routes.users import Cursor
from servicekit.cachekeys import health_key, insights_key

router = APIRouter(tags=["health"])
# The cached reads: on a router of their own, which the app matches before every other
# (routes are matched in order, on every request) and without a body limit (they take
# no body), so the hot path meets the fewest routes and layers.
reads = APIRouter(tags=["health"])
# Every type but heart_rate feeds an insight rule; a write of those forgets insights.
FEEDS_INSIGHTS = frozenset(
    {"steps", "heart_rate_resting", "sleep_minutes", "weight_kg", "water_ml"}
)
TOP = 5
DEFAULT_RANGE = dt.timedelta(days=30)
# A batch is one shape, a sample the other; the tag keeps validation errors to one shape.
Samples = Annotated[
    Annotated[MetricIn, Tag("one")]
    | Annotated[list[MetricIn], Tag("batch"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(lambda v: "batch" if isinstance(v, list) else "one"),
    Body(
        description=f"One sample, or a list of 1-{MAX_BATCH} (a day of watch samples).",
        openapi_examples={
            "one": {"value": METRIC_EXAMPLES["steps"]},
            "batch": {"value": list(METRIC_EXAMPLES.values())},
        },
    ),
]
Since = Annotated[Instant | None, Query(description="From this time (inclusive).")]
Until = Annotated[Instant | None, Query(description="Up to this time (exclusive).")]
PageSize = Annotated[int, Query(ge=1, le=500)]


def _summary_field(request: Request) -> str:
    query = request.query_params
    return f"summary:{query.get('days', '')}:{query.get('metric_type', '')}"


def _top_field(request: Request) -> str:
    return "top"


def _all_field(request: Request) -> str:
    return f"all:{request.query_params.get('limit', '')}"


SummaryRead = Annotated[CachedRead, Depends(CachedReadOf("health", health_key, _summary_field))]
TopRead = Annotated[CachedRead, Depends(CachedReadOf("insights", insights_key, _top_field))]
InsightsRead = Annotated[CachedRead, Depends(CachedReadOf("insights", insights_key, _all_field))]


def _window(
    since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """The range of a series: the last 30 days unless named."""
    until = until or dt.datetime.now(dt.UTC)
    since = since or until - DEFAULT_RANGE
    if since >= until:
        raise ApiError(
            400, "the range is empty", [{"field": "since", "message": "must be before until"}]
        )
    return since, until


@router.post(
    "/health-metrics/",
    status_code=201,
    response_model=out.MetricBatch | out.RecordedMetric,
    responses={
        200: {
            "model": out.MetricBatch | out.RecordedMetric,
            "description": "Every sample was stored before; nothing was written.",
        }
    },
)
@router.post("/health-metrics", status_code=201, include_in_schema=False)
@audited("create", "metrics")
async def record_metrics(
    samples: Samples, caller: Authenticated, svc: Svc, response: Response
) -> out.MetricBatch | out.RecordedMetric:
    """Store one sample or a batch. A sample with a `client_id` stored before is answered
    with its stored copy and `duplicate: true`; the status is 200 when nothing was new."""
    batch = isinstance(samples, list)
    recorded = await svc.clients.health.record(
        caller.user_id, samples if isinstance(samples, list) else [samples], batch
    )
    keys = [health_key(caller.user_id)]
    if any(s.metric_type in FEEDS_INSIGHTS for s in recorded.items if not s.duplicate):
        keys.append(insights_key(caller.user_id))
    if recorded.stored:
        await svc.cache.forget(*keys)
    else:
        response.status_code = 200
    return recorded if batch else recorded.items[0]


@router.get("/health-metrics/{metric_id}", response_model=out.Metric)
@audited("read", "metric:{metric_id}")
async def get_metric(metric_id: str, caller: Authenticated, svc: Svc) -> out.Metric:
    return await svc.clients.health.metric(caller.user_id, metric_id)


@router.get("/health-metrics/user/{user_id}", response_model=out.MetricPage)
@audited("read", "metrics", query="metric_type")
async def list_metrics(
    user_id: str,
    caller: Authenticated,
    svc: Svc,
    metric_type: MetricType | None = None,
    since: Since = None,
    until: Until = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> out.MetricPage:
    """A user's samples, newest first."""
    caller.owns(user_id)
    return await svc.clients.health.metrics(user_id, metric_type, since, until, limit, cursor)


@reads.get("/health-metrics/user/{user_id}/summary", response_model=out.Summary)
@audited("read", "metrics_summary", query="metric_type")
async def summary(
    user_id: str,
    read: SummaryRead,
    days: Annotated[
        int, Query(ge=1, le=365, description="The last this many UTC days, today included.")
    ] = 7,
    metric_type: MetricType | None = None,
) -> Response:
    """Count, min, max, mean and latest per type over the last `days` days."""
    read.caller.owns(user_id)
    return await read.answer(lambda: read.svc.clients.health.summary(user_id, days, metric_type))


@router.get("/health-metrics/user/{user_id}/series", response_model=out.MetricSeries)
@audited("read", "metrics", query="metric_type")
async def metric_series(
    user_id: str,
    caller: Authenticated,
    svc: Svc,
    metric_type: MetricType,
    period: Period = "day",
    since: Since = None,
    until: Until = None,
) -> out.MetricSeries:
    """One type per day, week or month over a range (the last 30 days unless named)."""
    caller.owns(user_id)
    start, end = _window(since, until)
    return await svc.clients.health.series(user_id, metric_type, period, start, end)


@router.get("/users/{user_id}/activity-series", response_model=out.ActivitySeries)
@audited("read", "activity_series")
async def activity_series(
    user_id: str,
    caller: Authenticated,
    svc: Svc,
    period: Period = "day",
    since: Since = None,
    until: Until = None,
) -> out.ActivitySeries:
    """Activity minutes, intensity minutes, score and distance per day, week or month."""
    caller.owns(user_id)
    start, end = _window(since, until)
    return await svc.clients.health.activity_series(user_id, period, start, end)


@router.post(
    "/nutrition-logs/",
    status_code=201,
    response_model=out.LoggedMeal,
    responses={
        200: {"model": out.LoggedMeal, "description": "Stored before; nothing was written."}
    },
)
@router.post("/nutrition-logs", status_code=201, include_in_schema=False)
@audited("create", "meal")
async def log_meal(
    body: MealIn, caller: Authenticated, svc: Svc, response: Response
) -> out.LoggedMeal:
    """Store a meal; a repeat of a `client_id` answers the stored meal with status 200."""
    meal = await svc.clients.health.log_meal(caller.user_id, body)
    if meal.duplicate:
        response.status_code = 200
    else:
        await svc.cache.forget(insights_key(caller.user_id))
    return meal


@router.get("/nutrition-logs/user/{user_id}", response_model=out.MealPage)
@audited("read", "meals")
async def list_meals(
    user_id: str,
    caller: Authenticated,
    svc: Svc,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> out.MealPage:
    """A user's meals, newest first, with the daily totals of the days on the page."""
    caller.owns(user_id)
    return await svc.clients.health.meals(user_id, since, until, limit, cursor)


@reads.get("/recommendations/{user_id}", response_model=out.Recommendations)
@audited("read", "insights")
async def recommendations(user_id: str, read: TopRead) -> Response:
    """The five most important insights, cached until a metric, meal, workout or profile
    change that feeds them."""
    read.caller.owns(user_id)

    async def load() -> out.Recommendations:
        found = await _insights(read, user_id, TOP)
        return out.Recommendations(user_id=user_id, items=found.items)

    return await read.answer(load)


@reads.get("/health-insights/user/{user_id}", response_model=out.HealthInsights)
@audited("read", "insights")
async def health_insights(
    user_id: str,
    read: InsightsRead,
    limit: Annotated[int, Query(ge=1, le=20)] = 20,
) -> Response:
    """Every insight, ranked, with the figures the rules saw."""
    read.caller.owns(user_id)
    return await read.answer(lambda: _insights(read, user_id, limit))


async def _insights(read: CachedRead, user_id: str, limit: int) -> out.HealthInsights:
    clients = read.svc.clients
    person = await clients.users.person(user_id)
    reply = await clients.health.insights(user_id, person, limit)
    return out.HealthInsights.from_proto(user_id, reply)
