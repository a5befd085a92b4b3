"""Group sessions over REST: create, read, end; and the tickets that open the WebSocket,
where members meet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway import bodies, group_list, responses
from gateway.audit import audited
from gateway.deps import Authenticated, Svc
from gateway.errors import conflict
from gateway.routes.users import Cursor, Limit
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
# In the reader's log: a session is no one account's, and a record in every participant's
# log would cost a write per participant for each read.
@audited("read", "group_session:{session_id}")
async def read(session_id: str, caller: Authenticated, svc: Svc) -> responses.GroupSession:
    """A live session to anyone with its id (so they can join); once it has ended, only to
    those who took part: 404 to anyone else."""
    return await svc.live.state(session_id, caller.user_id)


@router.get("/group-sessions/{session_id}/messages", response_model=responses.GroupMessagePage)
@audited("read", "group_session:{session_id}:messages")
async def messages(
    session_id: str,
    caller: Authenticated,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> responses.GroupMessagePage:
    """The chat of an ended session, oldest first, for those who took part (404 to anyone
    else). A live session's chat is on the WebSocket (409 here until it ends)."""
    meta = await svc.live.groups.meta(session_id)
    if meta is not None and meta["status"] == "active":
        raise conflict("the session is live: its chat is on the WebSocket until it ends")
    return await svc.clients.activity.group_messages(session_id, caller.user_id, limit, cursor)


@router.post("/group-sessions/{session_id}/end", response_model=responses.GroupSession)
async def end(session_id: str, caller: Authenticated, svc: Svc) -> responses.GroupSession:
    """Ends the session for everyone (its owner only) and archives it."""
    return await svc.live.end(session_id, caller.user_id)


@router.get("/users/{user_id}/group-sessions", response_model=responses.GroupSessionPage)
@audited("read", "group_sessions")
async def list_group_sessions(
    user_id: str, caller: Authenticated, svc: Svc, limit: Limit = 20, cursor: Cursor = None
) -> responses.GroupSessionPage:
    """The group sessions you took part in (started or joined), live and ended, newest
    start first, cursor paged. An ended one's chat is at `GET /group-sessions/{id}/messages`.
    Your own list only (403 for another user's)."""
    caller.owns(user_id)
    return await group_list.sessions_of(svc.live, svc.clients.activity, user_id, limit, cursor)
