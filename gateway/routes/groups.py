"""Group sessions over REST: create, read, end. Members meet over the WebSocket."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway import models
from gateway.auth import CurrentUser
from gateway.live import Live

router = APIRouter(tags=["group sessions"])


def live(request: Request) -> Live:
    found: Live = request.app.state.live
    return found


@router.post("/group-sessions", status_code=201, response_model=models.GroupSession)
async def create(
    body: models.GroupSessionCreate, caller: CurrentUser, request: Request
) -> dict[str, Any]:
    return await live(request).create(caller, body.name, body.workout_type)


@router.get("/group-sessions/{session_id}", response_model=models.GroupSession)
async def read(session_id: str, caller: CurrentUser, request: Request) -> dict[str, Any]:
    return await live(request).state(session_id)


@router.post("/group-sessions/{session_id}/end", response_model=models.GroupSession)
async def end(session_id: str, caller: CurrentUser, request: Request) -> dict[str, Any]:
    """Ends the session for everyone (its owner only) and archives it."""
    return await live(request).end(session_id, caller)
