"""Group sessions over REST: create, read, end; and the tickets that open the WebSocket,
where members meet."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import bodies, responses
from gateway.deps import Authenticated, Svc
from gateway.tickets import Holder

router = APIRouter(tags=["group sessions"])


@router.post("/ws/tickets", status_code=201, response_model=responses.Ticket, tags=["live"])
async def ticket(caller: Authenticated, svc: Svc) -> responses.Ticket:
    """A single-use ticket for `GET /api/v1/ws?ticket=…` (browsers cannot send headers on a
    WebSocket, and a token in a URL would be logged). Good for 30 seconds."""
    holder = Holder(caller.user_id, caller.token_expires_at, caller.session_id)
    issued = await svc.tickets.issue(holder)
    return responses.Ticket(ticket=issued, expires_in=svc.settings.ws_ticket_seconds)


@router.post("/group-sessions", status_code=201, response_model=responses.GroupSession)
async def create(
    body: bodies.GroupSessionCreate, caller: Authenticated, svc: Svc
) -> responses.GroupSession:
    return await svc.live.create(caller.user_id, body.name, body.workout_type)


@router.get("/group-sessions/{session_id}", response_model=responses.GroupSession)
async def read(session_id: str, caller: Authenticated, svc: Svc) -> responses.GroupSession:
    return await svc.live.state(session_id)


@router.post("/group-sessions/{session_id}/end", response_model=responses.GroupSession)
async def end(session_id: str, caller: Authenticated, svc: Svc) -> responses.GroupSession:
    """Ends the session for everyone (its owner only) and archives it."""
    return await svc.live.end(session_id, caller.user_id)
