"""A user's data, whole: take it out (an export), or erase the account and everything in it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from gateway import bodies
from gateway.audit import audited
from gateway.deps import Authenticated, Svc, client_ip
from gateway.errors import ApiError
from servicekit.cachekeys import of_user

router = APIRouter(tags=["your data"])
log = structlog.get_logger("account")
EXPORT_FORMAT = "fitmesh-export/1"


def _line(kind: str, data: object) -> bytes:
    return json.dumps({"kind": kind, "data": data}, separators=(",", ":")).encode() + b"\n"


@router.get(
    "/users/{user_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines."}},
)
@audited("export", "account")
async def export(user_id: str, caller: Authenticated, svc: Svc) -> StreamingResponse:
    """Everything the account holds, as a download of JSON lines: first an `export` line
    (format, user, time), then one line per record (`{"kind", "data"}`: profile, goal,
    notification, session, workout, metric, meal, import, group_session, and
    group_session_joined: what it said in others' sessions, ...), and last an
    `end` line with the count. A download without its `end` line was cut short: an `error`
    line says why, and asking again starts over."""
    caller.owns(user_id)
    records = svc.clients.personal.export(user_id)
    # The first record before the answer starts, so a backend that is away is a 503.
    first = await anext(records, None)
    started = dt.datetime.now(dt.UTC)

    async def lines() -> AsyncIterator[bytes]:
        meta = {"format": EXPORT_FORMAT, "user_id": user_id, "exported_at": started.isoformat()}
        yield _line("export", meta)
        count = 0
        try:
            if first is not None:
                count += 1
                yield _line(*first)
            async for record in records:
                count += 1
                yield _line(*record)
        except ApiError as error:
            log.warning("export_cut_short", status=error.status, records=count)
            yield _line("error", {"status": error.status, "detail": error.detail})
            return
        yield _line("end", {"records": count})

    name = f"fitmesh-export-{started:%Y%m%d}.jsonl"
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.delete("/users/{user_id}", status_code=204)
@audited("erase", "account")
async def erase(
    user_id: str, body: bodies.AccountErase, caller: Authenticated, request: Request, svc: Svc
) -> Response:
    """Erases the account and everything it holds, in every store: profile, goals, alerts,
    sessions, workouts, health data, meals, imports, the group sessions it owned, its messages,
    updates and membership in others' sessions, its cached answers and events. The password
    is asked again (403 when wrong, counted like failed logins). Every other session is
    signed out first; this one ends with the account. If an erasure fails half-way (503),
    ask again: it finishes what is left."""
    caller.owns(user_id)
    account, ip = f"user:{user_id}", client_ip(request)
    await svc.lockout.check(account, ip)
    try:
        await svc.clients.personal.erase(user_id, body.password, caller.session_id)
    except ApiError as error:
        if error.status == 403:
            await svc.lockout.failed(account, ip)
        raise
    await svc.cache.erase(*of_user(user_id))
    return Response(status_code=204)
