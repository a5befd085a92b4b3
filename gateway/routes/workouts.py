"""Workouts, statistics and the weekly activity score."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway import idempotency, models
from gateway.athlete import snapshot
from gateway.auth import CurrentUser, owner
from gateway.routes.users import Cursor, IdempotencyKey, Limit
from gateway.state import Gw
from gateway.views import iso, statistics_view, workout_view
from servicekit.cachekeys import statistics_key
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

router = APIRouter(tags=["workouts"])
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MAX_WEEK_PAGES = 20  # 2,000 workouts in one week is beyond any person


def kind(name: str) -> Any:
    return enum_number(spb.WorkoutType, name)


@router.post("/workouts/start", status_code=201, response_model=models.WorkoutStarted)
async def start(
    body: models.WorkoutStart, caller: CurrentUser, gw: Gw, request_key: IdempotencyKey = None
) -> Response:
    async def run() -> JSONResponse:
        reply = await gw.backends.activity.call(
            gw.backends.activity_stub.StartWorkout,
            apb.StartWorkoutRequest(
                user_id=caller,
                workout_type=kind(body.workout_type),
                athlete=await snapshot(gw, caller),
                request_id=request_key or uuid.uuid4().hex,
            ),
        )
        w = reply.workout
        return JSONResponse(
            {"session_id": w.workout_id, "start_time": iso(w.start_time)}, status_code=201
        )

    return await idempotency.once(
        gw.cache,
        request_key,
        f"start:{caller}",
        body.model_dump(mode="json"),
        gw.settings.idempotency_ttl_seconds,
        run,
    )


def _measurements(
    request: apb.EndWorkoutRequest | apb.LogWorkoutRequest,
    body: models.WorkoutEnd | models.WorkoutLog,
) -> None:
    """The optional measurements a client gave, onto the request (unset fields stay unset)."""
    if body.avg_heart_rate is not None:
        request.avg_heart_rate = body.avg_heart_rate
    if body.distance_m is not None:
        request.distance_m = body.distance_m


@router.post("/workouts/{session_id}/end", response_model=models.WorkoutResponse)
async def end(
    session_id: str, caller: CurrentUser, gw: Gw, body: models.WorkoutEnd | None = None
) -> dict[str, Any]:
    body = body or models.WorkoutEnd()
    request = apb.EndWorkoutRequest(user_id=caller, workout_id=session_id)
    if body.end_time is not None:
        request.end_time.CopyFrom(timestamp(body.end_time))
    _measurements(request, body)
    reply = await gw.backends.activity.call(gw.backends.activity_stub.EndWorkout, request)
    await gw.cache.forget(statistics_key(caller))
    return workout_view(reply.workout)


@router.post("/workouts", status_code=201, response_model=models.WorkoutResponse)
async def log_workout(
    body: models.WorkoutLog, caller: CurrentUser, gw: Gw, request_key: IdempotencyKey = None
) -> Response:
    async def run() -> JSONResponse:
        request = apb.LogWorkoutRequest(
            user_id=caller,
            workout_type=kind(body.workout_type),
            start_time=timestamp(body.start_time),
            end_time=timestamp(body.end_time),
            athlete=await snapshot(gw, caller),
            # The client's key when it gave one, so even a repeat that misses the Redis
            # record (Redis down) stores nothing twice; gRPC's retries are safe either way.
            request_id=request_key or uuid.uuid4().hex,
        )
        _measurements(request, body)
        reply = await gw.backends.activity.call(gw.backends.activity_stub.LogWorkout, request)
        await gw.cache.forget(statistics_key(caller))
        return JSONResponse(workout_view(reply.workout), status_code=201)

    return await idempotency.once(
        gw.cache,
        request_key,
        f"log:{caller}",
        body.model_dump(mode="json"),
        gw.settings.idempotency_ttl_seconds,
        run,
    )


@router.get("/workouts/{session_id}", response_model=models.WorkoutResponse)
async def get_workout(session_id: str, caller: CurrentUser, gw: Gw) -> dict[str, Any]:
    reply = await gw.backends.activity.call(
        gw.backends.activity_stub.GetWorkout,
        apb.GetWorkoutRequest(user_id=caller, workout_id=session_id),
    )
    return workout_view(reply.workout)


@router.get("/users/{user_id}/workouts", response_model=models.WorkoutPage)
async def list_workouts(
    user_id: str,
    caller: CurrentUser,
    gw: Gw,
    limit: Limit = 20,
    cursor: Cursor = None,
    from_: Annotated[dt.datetime | None, Query(alias="from")] = None,
    to: dt.datetime | None = None,
    type_: Annotated[models.WorkoutType | None, Query(alias="type")] = None,
) -> dict[str, Any]:
    owner(user_id, caller)
    request = apb.ListWorkoutsRequest(user_id=user_id, page_size=limit, page_token=cursor or "")
    if from_ is not None:
        request.from_time.CopyFrom(timestamp(from_))
    if to is not None:
        request.to_time.CopyFrom(timestamp(to))
    if type_ is not None:
        request.workout_type = kind(type_)
    reply = await gw.backends.activity.call(gw.backends.activity_stub.ListWorkouts, request)
    return {
        "items": [workout_view(w) for w in reply.workouts],
        "next_cursor": reply.next_page_token or None,
    }


@router.get("/users/{user_id}/statistics", response_model=models.Statistics)
async def statistics(user_id: str, caller: CurrentUser, gw: Gw) -> dict[str, Any]:
    owner(user_id, caller)

    async def load() -> dict[str, Any]:
        reply = await gw.backends.activity.call(
            gw.backends.activity_stub.GetStatistics, apb.GetStatisticsRequest(user_id=user_id)
        )
        return statistics_view(reply.statistics)

    result: dict[str, Any] = await gw.cache.through(
        "statistics", statistics_key(user_id), gw.settings.cache_statistics_seconds, load
    )
    return result


def week_span(week: str | None) -> tuple[str, dt.datetime, dt.datetime]:
    if week is None:
        year, number, _ = dt.datetime.now(dt.UTC).isocalendar()
    else:
        match = WEEK.match(week)
        if not match:
            raise HTTPException(400, "week must look like 2026-W47")
        year, number = int(match[1]), int(match[2])
    try:
        monday = dt.datetime.fromisocalendar(year, number, 1).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise HTTPException(400, f"there is no week {week}") from exc
    return f"{year}-W{number:02d}", monday, monday + dt.timedelta(days=7)


@router.get("/users/{user_id}/activity-score", response_model=models.ActivityScore)
async def activity_score(
    user_id: str,
    caller: CurrentUser,
    gw: Gw,
    week: Annotated[str | None, Query(max_length=8, description="ISO week, e.g. 2026-W47")] = None,
) -> dict[str, Any]:
    owner(user_id, caller)
    name, start_of_week, end_of_week = week_span(week)
    gw.backends.scoring.check()
    workouts: list[spb.ScoredWorkout] = []
    token = ""
    for _ in range(MAX_WEEK_PAGES):
        reply = await gw.backends.activity.call(
            gw.backends.activity_stub.ListWorkouts,
            apb.ListWorkoutsRequest(
                user_id=user_id,
                page_size=100,
                page_token=token,
                from_time=timestamp(start_of_week),
                to_time=timestamp(end_of_week),
            ),
        )
        workouts += [
            spb.ScoredWorkout(
                workout_type=w.workout_type,
                start_time=w.start_time,
                moderate_minutes=w.score.moderate_minutes,
                vigorous_minutes=w.score.vigorous_minutes,
            )
            for w in reply.workouts
            if w.score_status == apb.SCORE_STATUS_SCORED
        ]
        token = reply.next_page_token
        if not token:
            break
    score = await gw.backends.scoring.call(
        gw.backends.scoring_stub.ScoreWeek, spb.ScoreWeekRequest(workouts=workouts)
    )
    return {
        "week": name,
        "score": score.score,
        "moderate_minutes": score.moderate_minutes,
        "vigorous_minutes": score.vigorous_minutes,
        "intensity_minutes": score.intensity_minutes,
        "meets_guideline": score.meets_guideline,
        "upper_target_percent": score.upper_target_percent,
        "strength_days": score.strength_days,
        "meets_strength_guideline": score.meets_strength_guideline,
        "workouts": len(workouts),
    }
