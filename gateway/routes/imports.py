"""Workout imports: a GPX, TCX or FIT file becomes a workout in the background."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from gateway import bodies
from gateway.audit import audited
from gateway.deps import Authenticated, Caller, Svc
from gateway.errors import RESPONSES, ApiError, bad_request
from gateway.import_responses import ImportResponse
from gateway.state import Services
from gateway.webhook_models import WebhookCreated

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


IMPORT_FINISHED = "import.finished"
CALLBACK_URL = (
    "Where to POST the result once the import is done or failed: an https URL on the public "
    "internet (as a webhook's), checked now (400 naming callback_url when refused)."
)


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
    callback_url: Annotated[str | None, Form(description=CALLBACK_URL)] = None,
) -> ImportResponse:
    """Import a workout from a file, as multipart/form-data. Answers 202 at once with the
    import (`Location` is where it can be followed); the file is read in the background and
    its workout logged (scored, counted in statistics and goals) with its distance,
    duration, elevation gain and heart rate. The same file sent again answers 200 with the
    existing import and never makes a second workout (a failed one is tried again, 202).

    With `callback_url`, the result is POSTed there once when the import is done or failed,
    through the webhook machinery (signed, retried with backoff, kept as a dead letter when
    every retry fails): `{"type": "import.finished", "timestamp", "data": {"import_id",
    "status", "workout_id", "error", "finished_at", "user_id"}}`, signed as a webhook's
    delivery (see POST /webhooks) with `callback.secret` of this answer, shown here only.
    Its delivery log is at `/webhooks/{callback.id}/deliveries`. A 200 (this file was
    imported before) has its result in the answer and makes no callback."""
    limit = svc.settings.import_max_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"workout files are limited to {limit} bytes")
    if not content:
        raise bad_request("the file is empty", "file")
    callback = None
    if callback_url is not None:  # refused before any work is accepted
        hooks = svc.clients.users.webhooks
        callback = await hooks.create_callback(caller.user_id, callback_url, IMPORT_FINISHED)
    found = await _submit(svc, caller, file.filename or "", content, workout_type, callback)
    response.headers["Location"] = location(found.import_id)
    if found.duplicate:
        response.status_code = 200
    return found


async def _submit(
    svc: Services,
    caller: Caller,
    filename: str,
    content: bytes,
    workout_type: str | None,
    callback: WebhookCreated | None,
) -> ImportResponse:
    """The upload handed over, naming its callback; a callback the import refused or did
    not take (a duplicate begins no work) is deleted, so none waits for an event that
    never comes. One whose fate is unknown (a 5xx) stays: the import may have it."""
    athlete = await svc.clients.users.athlete(caller.user_id)
    try:
        found = await svc.clients.imports.submit(
            caller.user_id,
            filename,
            content,
            workout_type,
            athlete,
            callback.id if callback else "",
        )
    except ApiError as exc:
        if callback is not None and exc.status < 500:
            await _forget(svc, caller, callback)
        raise
    if callback is not None and found.duplicate:
        await _forget(svc, caller, callback)
        return found
    found.callback = callback
    return found


async def _forget(svc: Services, caller: Caller, callback: WebhookCreated) -> None:
    with contextlib.suppress(ApiError):  # an unused callback left behind gets no event
        await svc.clients.users.webhooks.delete(caller.user_id, callback.id)


@router.get("/workouts/imports/{import_id}", response_model=ImportResponse)
@audited("read", "workout_import:{import_id}")
async def get_import(import_id: str, caller: Authenticated, svc: Svc) -> ImportResponse:
    """Where an import stands: queued, parsing, done (with `session_id`, the workout, and
    `summary`, what the file said) or failed (with `error`, naming what was wrong)."""
    return await svc.clients.imports.get(caller.user_id, import_id)
