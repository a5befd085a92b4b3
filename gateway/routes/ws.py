"""The WebSocket: `/api/v1/ws?ticket=…` with a single-use ticket from POST /ws/tickets
(browsers), or an `Authorization: Bearer` header on the upgrade, or a first frame
`{"event": "auth", "token": ...}`; never a token in the URL, which would be logged.

Bad frames get an error frame and the socket stays; a flood is closed with 1008, a binary
frame with 1003, an oversize frame with 1009, a slow reader with 1013, a user past their
socket limit with 1008, and a socket whose token expires with 4401 (the client gets a new
ticket)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError
from starlette.websockets import WebSocketState

from gateway.deps import Caller, verify
from gateway.hub import Connection
from gateway.live import FrameError, Live
from gateway.state import Services
from gateway.tickets import Holder

router = APIRouter()
log = structlog.get_logger("ws")
MAX_ID = 64
EVENTS = {"join_group_session", "leave_group_session", "send_message", "exercise_update"}


class FrameBudget:
    """A token bucket: `rate` frames a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _authenticate(ws: WebSocket, svc: Services, ticket: str | None) -> Holder | None:
    if ticket is not None:
        return await svc.tickets.redeem(ticket)
    header = ws.headers.get("authorization")
    if header is None:  # no ticket, no header: the first frame may carry the token
        try:
            first = json.loads(
                await asyncio.wait_for(ws.receive_text(), svc.settings.ws_auth_timeout_seconds)
            )
            token = first.get("token") if isinstance(first, dict) else None
        except (TimeoutError, ValueError, KeyError):
            token = None
        if not isinstance(token, str):
            return None
        header = f"Bearer {token}"
    verified = verify(svc, header)
    return (
        Holder(verified.user_id, verified.token_expires_at, verified.session_id)
        if isinstance(verified, Caller)
        else None
    )


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code, reason)


async def _write(ws: WebSocket, conn: Connection) -> None:
    while True:
        text = await conn.queue.get()
        await ws.send_text(text)


async def _handle(live: Live, conn: Connection, text: str) -> None:
    try:
        frame = json.loads(text)
    except ValueError as exc:
        raise FrameError("invalid_json", "frames are JSON objects") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
        raise FrameError("invalid_frame", "a frame is an object with an event")
    if "user_id" in frame and frame["user_id"] != conn.user_id:
        raise FrameError("forbidden", "user_id does not match the token")
    event, session_id = frame["event"], frame.get("session_id")
    if event == "auth":
        return  # already authenticated
    if event not in EVENTS:
        raise FrameError("unknown_event", f"unknown event {event[:40]!r}")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= MAX_ID:
        raise FrameError("invalid_session", "session_id is required")
    if event == "join_group_session":
        await live.join(conn, session_id)
    elif event == "leave_group_session":
        await live.leave(conn, session_id)
    elif event == "send_message":
        await live.say(conn, session_id, frame.get("message"))
    else:
        await live.exercise(conn, session_id, frame.get("data"))


@router.websocket("/api/v1/ws")
async def websocket(ws: WebSocket, ticket: str | None = None, token: str | None = None) -> None:
    svc: Services = ws.app.state.services
    live = svc.live
    await ws.accept()
    if token is not None:
        await _close(
            ws, 1008, "tokens do not go in URLs: use a ticket from POST /api/v1/ws/tickets"
        )
        return
    try:
        if not live.hub.ready:  # Redis is away: nothing live could reach this socket
            raise ConnectionError
        holder = await _authenticate(ws, svc, ticket)
    except (RedisError, OSError):
        await _close(ws, 1013, "live sessions are unavailable; try again later")
        return
    if holder is None or holder.expires_at <= time.time() or holder.session_id in svc.revoked:
        await _close(ws, 1008, "a valid ticket or access token is required")
        return
    user_id = holder.user_id
    if len(live.hub.users.get(user_id, ())) >= svc.settings.ws_sockets_per_user:
        await _close(ws, 1008, "too many open sockets for this user")
        return
    conn = Connection(user_id, holder.session_id, svc.settings.ws_queue_size)
    await live.hub.add_user(conn)
    writer = asyncio.create_task(_write(ws, conn))
    receiver = asyncio.create_task(_receive(ws, svc, live, conn))
    dropped = asyncio.create_task(conn.dropped.wait())
    revoked = asyncio.create_task(conn.revoked.wait())
    expired = asyncio.create_task(asyncio.sleep(holder.expires_at - time.time()))
    ends = {receiver, dropped, revoked, expired}
    with structlog.contextvars.bound_contextvars(user_id=user_id):
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            if conn.dropped.is_set():
                # Its buffers are full, so a polite close could wait forever: bounded.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_close(ws, 1013, "too slow to keep up"), 1.0)
            elif conn.revoked.is_set():
                await _close(ws, 4401, "the session has ended; sign in again")
            elif expired.done():
                await _close(ws, 4401, "the access token has expired")
        finally:
            for task in (writer, *ends):
                task.cancel()
            # A dropped connection counts as leaving every session it was in.
            with contextlib.suppress(Exception):
                await live.leave_all(conn)
            await live.hub.remove_user(conn)


async def _receive(ws: WebSocket, svc: Services, live: Live, conn: Connection) -> None:
    budget = FrameBudget(svc.settings.ws_frames_per_second, svc.settings.ws_frame_burst)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:  # a binary frame: frames are JSON text
                await _close(ws, 1003, "frames are JSON text")
                return
            if len(text.encode()) > svc.settings.ws_max_frame_bytes:
                await _close(ws, 1009, "frame too large")
                return
            if not budget.take():
                log.warning("ws_flood_closed")
                await _close(ws, 1008, "too many frames")
                return
            try:
                await _handle(live, conn, text)
            except FrameError as exc:
                conn.send({"event": "error", "code": exc.code, "message": exc.message})
    except WebSocketDisconnect:
        pass
    except Exception:  # a broken socket must never take the gateway with it
        log.exception("ws_failed")
        await _close(ws, 1011, "internal error")
