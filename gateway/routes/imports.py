"""Workout imports: a GPX, TCX or FIT file becomes a workout in the background."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from gateway import bodies
from gateway.audit import audited
from gateway.deps import Authenticated, Svc
from gateway.errors import RESPONSES, ApiError, bad_request
from gateway.import_responses import ImportResponse

router = APIRouter(tags=["workouts"])
# What a multipart body adds to its file: boundaries, part headers, the workout_type field.
MULTIPART_SLACK = 64 * 1024
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ImportResponse, "description": "This file was imported before: that import."},
    415: {
        "description": "Neither GPX, TCX nor FIT (by content or by name).",
        "content": RESPONSES[400]["content"],
    },
}


def location(import_id: str) -> str:
    return f"/api/v1/workouts/imports/{import_id}"


@router.post(
    "/workouts/imports",
    status_code=202,
    response_model=ImportResponse,
    responses=UPLOAD_RESPONSES,
)
@audited("create", "workout_import")
async def import_workout(
    caller: Authenticated,
    svc: Svc,
    response: Response,
    file: Annotated[UploadFile, File(description="A GPX, TCX or FIT file (10 MiB at most).")],
    workout_type: Annotated[
        bodies.WorkoutType | None,
        Form(description="The kind of workout, when the file names no sport (or another)."),
    ] = None,
) -> ImportResponse:
    """Import a workout from a file, as multipart/form-data. Answers 202 at once with the
    import (`Location` is where it can be followed); the file is read in the background and
    its workout logged (scored, counted in statistics and goals) with its distance,
    duration, elevation gain and heart rate. The same file sent again answers 200 with the
    existing import and never makes a second workout (a failed one is tried again, 202)."""
    limit = svc.settings.import_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"workout files are limited to {limit} bytes")
    if not content:
        raise bad_request("the file is empty", "file")
    athlete = await svc.clients.users.athlete(caller.user_id)
    found = await svc.clients.imports.submit(
        caller.user_id, file.filename or "", content, workout_type, athlete
    )
    response.headers["Location"] = location(found.import_id)
    if found.duplicate:
        response.status_code = 200
    return found


@router.get("/workouts/imports/{import_id}", response_model=ImportResponse)
@audited("read", "workout_import:{import_id}")
async def get_import(import_id: str, caller: Authenticated, svc: Svc) -> ImportResponse:
    """Where an import stands: queued, parsing, done (with `session_id`, the workout, and
    `summary`, what the file said) or failed (with `error`, naming what was wrong)."""
    return await svc.clients.imports.get(caller.user_id, import_id)
