"""What members do in a live group session: join, leave, chat, send exercise updates;
and what ends one: its owner, or the idle timeout after everyone left. Ending archives
members, messages and updates through ActivityService.SaveGroupSession."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from typing import Any

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway.clients import Activity
from gateway.errors import ApiError, conflict, forbidden, not_found
from gateway.groups import IDLE, GroupSessions, now_iso
from gateway.hub import Connection, Hub
from gateway.responses import GroupSession
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

log = structlog.get_logger("live")
MAX_MESSAGE = 2000
MAX_UPDATE_BYTES = 4096
# An archive is one MongoDB document (16 MiB at most): past this much text, the oldest
# messages and updates are left out and counted.
ARCHIVE_BUDGET = 8 * 1024 * 1024
ARCHIVE_MAX_ITEMS = 20_000  # what ActivityService.SaveGroupSession accepts


class FrameError(Exception):
    """A frame the client got wrong: answered with an error frame, the socket stays."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ts(text: str) -> Timestamp:
    return timestamp(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


class Live:
    def __init__(
        self, groups: GroupSessions, hub: Hub, activity: Activity, recent_messages: int
    ) -> None:
        self.groups, self.hub, self.activity = groups, hub, activity
        self.recent_messages = recent_messages
        hub.on_session_ended = self._session_ended

    async def create(self, owner_id: str, name: str, workout_type: str) -> GroupSession:
        meta = await self.groups.create(owner_id, name, workout_type)
        return GroupSession.model_validate(
            {**meta, "ended_at": None, "members": [], "participants": [owner_id]}
        )

    async def state(self, session_id: str, reader_id: str) -> GroupSession:
        """A live session, to anyone who has its id (that is how one joins); an ended one
        from its archive, only to those who took part."""
        meta = await self.groups.meta(session_id)
        if meta is None or meta["status"] != "active":
            return await self.activity.group_session(session_id, reader_id)
        return await self.live_state(meta)

    async def live_state(self, meta: dict[str, str]) -> GroupSession:
        """A live session as it is now, from its meta."""
        session_id = meta["session_id"]
        members = await self.groups.members(session_id)
        everyone = await self.groups.everyone(session_id)
        return GroupSession.model_validate(
            {
                **meta,
                "ended_at": None,
                "members": members,
                "participants": sorted({meta["owner_id"], *everyone}),
            }
        )

    async def _active(self, session_id: str) -> dict[str, str]:
        meta = await self.groups.meta(session_id)
        if meta is None:
            raise FrameError("not_found", "no such group session")
        if meta["status"] != "active":
            raise FrameError("session_ended", "the group session has ended")
        return meta

    async def join(self, conn: Connection, session_id: str) -> None:
        await self._active(session_id)
        if session_id in conn.sessions:
            raise FrameError("already_joined", "already in this group session")
        await self.hub.begin_join(session_id, conn)
        if await self.groups.join(session_id, conn.user_id):
            await self.groups.post(session_id, "member_joined", conn.user_id, {})
        recent, newest = await self.groups.recent(session_id, self.recent_messages)
        members = await self.groups.members(session_id)
        self.hub.finish_join(
            session_id,
            conn,
            newest,
            {
                "event": "joined",
                "session_id": session_id,
                "members": members,
                "recent_messages": recent,
            },
        )

    async def leave(self, conn: Connection, session_id: str) -> None:
        if session_id not in conn.sessions:
            raise FrameError("not_joined", "not in this group session")
        await self.hub.remove_member(session_id, conn)
        if await self.groups.leave(session_id, conn.user_id):
            meta = await self.groups.meta(session_id)
            if meta and meta["status"] == "active":
                await self.groups.post(session_id, "member_left", conn.user_id, {})

    async def leave_all(self, conn: Connection) -> None:
        for session_id in list(conn.sessions):
            with contextlib.suppress(FrameError):
                await self.leave(conn, session_id)

    def _joined(self, conn: Connection, session_id: str) -> None:
        if session_id not in conn.sessions:
            raise FrameError("not_joined", "join the group session first")

    async def say(self, conn: Connection, session_id: str, message: Any) -> None:
        self._joined(conn, session_id)
        if not isinstance(message, str) or not message.strip():
            raise FrameError("invalid_message", "message must be non-empty text")
        if len(message) > MAX_MESSAGE:
            raise FrameError("message_too_long", f"messages are at most {MAX_MESSAGE} characters")
        await self.groups.post(session_id, "chat_message", conn.user_id, {"message": message})

    async def exercise(self, conn: Connection, session_id: str, data: Any) -> None:
        self._joined(conn, session_id)
        if not isinstance(data, dict):
            raise FrameError("invalid_data", "data must be an object")
        if len(json.dumps(data)) > MAX_UPDATE_BYTES:
            raise FrameError("data_too_large", f"data is at most {MAX_UPDATE_BYTES} bytes")
        await self.groups.post(session_id, "exercise_update", conn.user_id, data)

    async def end(self, session_id: str, by: str | None) -> GroupSession:
        """End a session for everyone: `by` its owner, or None for the idle timeout."""
        meta = await self.groups.meta(session_id)
        if meta is None:
            raise not_found("no such group session")
        if by is not None and by != meta["owner_id"]:
            raise forbidden("only the owner can end a group session")
        if meta["status"] != "active" or not await self.groups.claim_end(session_id):
            raise conflict("the group session has ended or is ending")
        try:
            ended_at = now_iso()
            archived = await self._archive(meta, ended_at)
        except BaseException:
            await self.groups.release_end(session_id)
            raise
        await self.groups.post(
            session_id,
            "session_ended",
            by or meta["owner_id"],
            {"reason": "ended_by_owner" if by else "idle"},
        )
        await self.groups.mark_ended(session_id, ended_at)
        log.info("group_session_ended", session_id=session_id, idle=by is None)
        return GroupSession.from_proto(archived)

    async def _archive(self, meta: dict[str, str], ended_at: str) -> apb.GroupSession:
        session_id = meta["session_id"]
        session = apb.GroupSession(
            session_id=session_id,
            name=meta["name"],
            owner_id=meta["owner_id"],
            workout_type=enum_number(spb.WorkoutType, meta["workout_type"]) or 0,  # type: ignore[arg-type]
            member_ids=await self.groups.everyone(session_id),
            started_at=_ts(meta["started_at"]),
            ended_at=_ts(ended_at),
        )
        frames = [
            f
            for f in await self.groups.log(session_id)
            if f["update_type"] in ("chat_message", "exercise_update")
        ]
        kept, size = 0, 0
        for frame in reversed(frames):
            size += len(json.dumps(frame["data"]))
            if size > ARCHIVE_BUDGET or kept == ARCHIVE_MAX_ITEMS:
                break
            kept += 1
        session.dropped_items = len(frames) - kept
        for frame in frames[len(frames) - kept :]:
            data = frame["data"]
            if frame["update_type"] == "chat_message":
                session.messages.append(
                    apb.GroupMessage(
                        user_id=data["user_id"], text=data["message"], sent_at=_ts(data["at"])
                    )
                )
            elif frame["update_type"] == "exercise_update":
                payload = {k: v for k, v in data.items() if k not in ("user_id", "at")}
                session.exercise_updates.append(
                    apb.ExerciseUpdate(
                        user_id=data["user_id"],
                        data_json=json.dumps(payload),
                        sent_at=_ts(data["at"]),
                    )
                )
        session.message_count = len(session.messages)
        await self.activity.save_group_session(session)
        return session

    def _session_ended(self, session_id: str) -> None:
        for conn in list(self.hub.sessions.get(session_id, ())):
            asyncio.get_running_loop().create_task(self.hub.remove_member(session_id, conn))

    async def sweep_forever(self, idle_seconds: float) -> None:
        """End sessions whose members all left more than idle_seconds ago."""
        while True:
            await asyncio.sleep(min(5.0, idle_seconds / 2))
            try:
                idle = await self.groups.idle_since(time.time() - idle_seconds)
            except Exception:  # Redis away: the next sweep tries again
                log.warning("idle_sweep_skipped")
                continue
            for session_id in idle:
                try:
                    await self.end(session_id, None)
                except ApiError:  # gone, already ended, or another replica ends it
                    await self.groups.redis.zrem(IDLE, session_id)
                except Exception:  # this one is tried again next sweep; the others go on
                    log.exception("idle_end_failed", session_id=session_id)
