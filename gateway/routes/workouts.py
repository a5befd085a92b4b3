"""Workouts, statistics and the weekly activity score."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from gateway import bodies, idempotency, responses
from gateway.audit import audited
from gateway.deps import Authenticated, CachedRead, CachedReadOf, Svc
from gateway.errors import PRECONDITIONS, bad_request
from gateway.etags import etag, expected_versions
from gateway.routes.users import Cursor, IdempotencyKey, Limit
from gateway.state import Services
from servicekit.cachekeys import insights_key, statistics_key, workouts_key

router = APIRouter(tags=["workouts"])
# The cached reads: on a router of their own, which the app matches before every other
# (routes are matched in order, on every request) and without a body limit (they take
# no body), so the hot path meets the fewest routes and layers.
reads = APIRouter(tags=["workouts"])


def _page(request: Request) -> str:
    """The field of a page of workouts in the user's entry: its whole query."""
    q = request.query_params
    return ":".join(q.get(name, "") for name in ("limit", "cursor", "from", "to", "type"))


StatisticsRead = Annotated[CachedRead, Depends(CachedReadOf("statistics", statistics_key))]
WorkoutsRead = Annotated[CachedRead, Depends(CachedReadOf("workouts", workouts_key, _page))]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1024,
        description='The ETag of the workout as read (`"3"`), or `*` for whichever version.',
    ),
]
Week = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-W\d{2}$", max_length=8, description="ISO week, e.g. 2026-W47"),
]


async def _forget(svc: Services, user_id: str) -> None:
    """What a change of the user's workouts changes: their lists, statistics and insights
    (goals move when the user service takes the change's event, which forgets them)."""
    await svc.cache.forget(workouts_key(user_id), statistics_key(user_id), insights_key(user_id))


@reads.get("/users/{user_id}/statistics", response_model=responses.Statistics)
@audited("read", "statistics")
async def statistics(user_id: str, read: StatisticsRead) -> Response:
    read.caller.owns(user_id)
    return await read.answer(lambda: read.svc.clients.activity.statistics(user_id))


@reads.get("/users/{user_id}/workouts", response_model=responses.WorkoutPage)
@audited("read", "workouts")
async def list_workouts(
    user_id: str,
    read: WorkoutsRead,
    limit: Limit = 20,
    cursor: Cursor = None,
    from_: Annotated[bodies.Instant | None, Query(alias="from")] = None,
    to: bodies.Instant | None = None,
    type_: Annotated[bodies.WorkoutType | None, Query(alias="type")] = None,
) -> Response:
    """Your workouts, newest first, the running one included; answered from the shared
    cache until one of them changes (any start, end, log, edit, deletion or import)."""
    read.caller.owns(user_id)
    activity = read.svc.clients.activity
    return await read.answer(lambda: activity.workouts(user_id, limit, cursor, from_, to, type_))


@router.post("/workouts/start", status_code=201, response_model=responses.WorkoutStarted)
@audited("create", "workout")
async def start(
    body: bodies.WorkoutStart, caller: Authenticated, svc: Svc, key: IdempotencyKey = None
) -> Response:
    if body.user_id is not None:
        caller.owns(body.user_id)

    async def run(attempt: idempotency.Attempt) -> responses.WorkoutStarted:
        athlete = await svc.clients.users.athlete(caller.user_id)
        # The client's key when it gave one, so even a repeat that misses the Redis record
        # (Redis down or flushed) stores nothing twice, and one with another body is
        # refused; gRPC's retries are safe either way.
        started = await svc.clients.activity.start(
            caller.user_id, body.workout_type, athlete, attempt
        )
        # The running workout heads the lists from now on.
        await svc.cache.forget(workouts_key(caller.user_id))
        return started

    return await idempotency.once(
        svc.cache, key, f"start:{caller.user_id}", body, svc.settings.idempotency_ttl_seconds, run
    )


@router.post("/workouts/{session_id}/end", response_model=responses.WorkoutResponse)
@audited("update", "workout:{session_id}")
async def end(
    session_id: str, caller: Authenticated, svc: Svc, body: bodies.WorkoutEnd | None = None
) -> responses.WorkoutResponse:
    workout = await svc.clients.activity.end(
        caller.user_id, session_id, body or bodies.WorkoutEnd()
    )
    await _forget(svc, caller.user_id)
    return workout


@router.post("/workouts", status_code=201, response_model=responses.WorkoutResponse)
@audited("create", "workout")
async def log_workout(
    body: bodies.WorkoutLog, caller: Authenticated, svc: Svc, key: IdempotencyKey = None
) -> Response:
    async def run(attempt: idempotency.Attempt) -> responses.WorkoutResponse:
        athlete = await svc.clients.users.athlete(caller.user_id)
        workout = await svc.clients.activity.log(caller.user_id, body, athlete, attempt)
        await _forget(svc, caller.user_id)
        return workout

    return await idempotency.once(
        svc.cache, key, f"log:{caller.user_id}", body, svc.settings.idempotency_ttl_seconds, run
    )


@router.get("/workouts/{session_id}", response_model=responses.WorkoutResponse)
@audited("read", "workout:{session_id}")
async def get_workout(
    session_id: str, caller: Authenticated, svc: Svc, response: Response
) -> responses.WorkoutResponse:
    """One workout; its `ETag` is what a change sends back as `If-Match`."""
    workout = await svc.clients.activity.workout(caller.user_id, session_id)
    response.headers["ETag"] = etag(workout.version)
    return workout


@router.get("/workouts/{session_id}/samples", response_model=responses.WorkoutSamples)
@audited("read", "workout:{session_id}")
async def workout_samples(
    session_id: str, caller: Authenticated, svc: Svc
) -> responses.WorkoutSamples:
    """The heart-rate and elevation samples of a workout imported from a file, as seconds
    from its start, thinned evenly to at most IMPORT_MAX_SAMPLES points. 404 for a workout
    not yours, deleted, or without samples (logged by hand, or a file with neither)."""
    return await svc.clients.activity.samples(caller.user_id, session_id)


@router.patch(
    "/workouts/{session_id}", response_model=responses.WorkoutResponse, responses=PRECONDITIONS
)
@audited("update", "workout:{session_id}")
async def edit_workout(
    session_id: str,
    body: bodies.WorkoutEdit,
    caller: Authenticated,
    svc: Svc,
    response: Response,
    if_match: IfMatch = None,
) -> responses.WorkoutResponse:
    """Change a completed workout of yours: the fields given (null clears `avg_heart_rate`
    or `distance_m`), checked as a logged workout is, and scored again. Its statistics,
    week, weekly score and goals follow, exactly once. `If-Match` is required: 428 without
    it, 412 when the workout changed since that ETag (read it again); 409 while its last
    change or its score is still being settled (retry shortly); 404 for a workout not yours.
    Answers the new version with its `ETag`."""
    versions = expected_versions(if_match)
    if not body.model_fields_set:
        raise bad_request("name at least one field to change")
    workout = await svc.clients.activity.update(caller.user_id, session_id, body, versions)
    await _forget(svc, caller.user_id)
    response.headers["ETag"] = etag(workout.version)
    return workout


@router.delete("/workouts/{session_id}", status_code=204, responses=PRECONDITIONS)
@audited("delete", "workout:{session_id}")
async def delete_workout(
    session_id: str, caller: Authenticated, svc: Svc, if_match: IfMatch = None
) -> Response:
    """Delete a completed workout of yours: out of statistics, its week, the weekly score
    and goals (an achieved goal it no longer reaches is active again, and says so in the
    notifications). `If-Match` as for PATCH."""
    versions = expected_versions(if_match)
    await svc.clients.activity.delete(caller.user_id, session_id, versions)
    await _forget(svc, caller.user_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/activity-score", response_model=responses.ActivityScore)
@audited("read", "activity_score")
async def activity_score(
    user_id: str, caller: Authenticated, svc: Svc, week: Week = None
) -> responses.ActivityScore:
    """The WHO weekly score of an ISO week (the current one when none is named)."""
    caller.owns(user_id)
    return await svc.clients.activity.activity_score(user_id, week)
