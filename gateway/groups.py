"""Live group sessions, kept in Redis so every gateway replica sees one state.

Each session has a meta hash, a count of open sockets per member, the set of everyone who
ever joined, and a stream that logs every update; each user, the set of live sessions they
own or joined (their list of sessions reads it; ending a session takes it out). An update is
appended to the stream and published on `fitmesh.group.<id>` by one Lua script, so every
replica's subscribers get updates in the stream's order, each tagged with its stream id."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from servicekit.groupkeys import SESSION_PREFIX, taking_part

LOG_MAX = 20_000
ENDED_TTL = 7 * 24 * 3600

# Append to the session's log and publish in one step: the order subscribers see is the
# log's order, whichever replica published.
POST = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'frame', ARGV[2])
redis.call('PUBLISH', ARGV[3], id .. ' ' .. ARGV[2])
return id
"""


def channel(session_id: str) -> str:
    return f"fitmesh.group.{session_id}"


def _keys(session_id: str) -> dict[str, str]:
    base = f"{SESSION_PREFIX}{session_id}"
    return {
        "meta": base,
        "conns": f"{base}:conns",
        "everyone": f"{base}:everyone",
        "log": f"{base}:log",
        "ending": f"{base}:ending",
    }


IDLE = "fitmesh:groups:idle"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class GroupSessions:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._post = redis.register_script(POST)

    async def create(self, owner_id: str, name: str, workout_type: str) -> dict[str, Any]:
        session_id = uuid.uuid4().hex
        meta: dict[Any, Any] = {
            "session_id": session_id,
            "name": name,
            "owner_id": owner_id,
            "workout_type": workout_type,
            "status": "active",
            "started_at": now_iso(),
        }
        keys = _keys(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys["meta"], mapping=meta)
            pipe.sadd(taking_part(owner_id), session_id)
            # Nobody has joined yet: the idle clock runs from creation.
            pipe.zadd(IDLE, {session_id: time.time()})
            await pipe.execute()
        return meta

    async def meta(self, session_id: str) -> dict[str, str] | None:
        meta: Any = await self.redis.hgetall(_keys(session_id)["meta"])
        return dict(meta) or None

    async def members(self, session_id: str) -> list[str]:
        counts: Any = await self.redis.hgetall(_keys(session_id)["conns"])
        return sorted(user for user, n in counts.items() if int(n) > 0)

    async def join(self, session_id: str, user_id: str) -> bool:
        """Count one more socket of the user in the session; True for the first one."""
        keys = _keys(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(keys["conns"], user_id, 1)
            pipe.sadd(keys["everyone"], user_id)
            pipe.sadd(taking_part(user_id), session_id)
            pipe.zrem(IDLE, session_id)
            count, *_ = await pipe.execute()
        return int(count) == 1

    async def leave(self, session_id: str, user_id: str) -> bool:
        """Count one socket less; True when it was the user's last one."""
        keys = _keys(session_id)
        count = int(await self.redis.hincrby(keys["conns"], user_id, -1))
        if count > 0:
            return False
        await self.redis.hdel(keys["conns"], user_id)
        if not await self.members(session_id):
            await self.redis.zadd(IDLE, {session_id: time.time()})
        return True

    async def post(
        self, session_id: str, update_type: str, user_id: str, data: dict[str, Any]
    ) -> str:
        frame = json.dumps(
            {
                "event": "group_update",
                "session_id": session_id,
                "update_type": update_type,
                "data": {**data, "user_id": user_id, "at": now_iso()},
            },
            separators=(",", ":"),
        )
        keys = _keys(session_id)
        entry_id = await self._post(keys=[keys["log"]], args=[LOG_MAX, frame, channel(session_id)])
        return str(entry_id)

    async def recent(self, session_id: str, count: int) -> tuple[list[dict[str, Any]], str]:
        """The last chat messages (oldest first) and the id of the newest log entry."""
        entries: Any = await self.redis.xrevrange(_keys(session_id)["log"], count=count * 4)
        newest = entries[0][0] if entries else "0-0"
        messages = []
        for entry_id, fields in entries:
            frame = json.loads(fields["frame"])
            if frame["update_type"] == "chat_message":
                messages.append({**frame["data"], "id": entry_id})
            if len(messages) == count:
                break
        return messages[::-1], newest

    async def log(self, session_id: str) -> list[dict[str, Any]]:
        entries: Any = await self.redis.xrange(_keys(session_id)["log"])
        return [json.loads(fields["frame"]) for _, fields in entries]

    async def everyone(self, session_id: str) -> list[str]:
        members: Any = await self.redis.smembers(_keys(session_id)["everyone"])
        return sorted(members)

    async def claim_end(self, session_id: str) -> bool:
        """One replica ends a session; the others see False."""
        return bool(await self.redis.set(_keys(session_id)["ending"], "1", nx=True, ex=60))

    async def release_end(self, session_id: str) -> None:
        await self.redis.delete(_keys(session_id)["ending"])

    async def mark_ended(self, session_id: str, ended_at: str) -> None:
        keys = _keys(session_id)
        owner: Any = await self.redis.hget(keys["meta"], "owner_id")
        people = {*await self.everyone(session_id), *([owner] if owner else [])}
        async with self.redis.pipeline(transaction=True) as pipe:
            for user_id in people:
                pipe.srem(taking_part(user_id), session_id)
            pipe.hset(keys["meta"], mapping={"status": "ended", "ended_at": ended_at})
            pipe.expire(keys["meta"], ENDED_TTL)
            pipe.delete(keys["conns"], keys["log"], keys["everyone"], keys["ending"])
            pipe.zrem(IDLE, session_id)
            await pipe.execute()

    async def idle_since(self, before: float) -> list[str]:
        found: Any = await self.redis.zrangebyscore(IDLE, 0, before)
        return list(found)

    async def live_of(self, user_id: str) -> list[dict[str, str]]:
        """The meta of each live session `user_id` owns or joined. Ids whose session ended
        without taking them out (a replica stopped between the two) are taken out here."""
        key = taking_part(user_id)
        ids: Any = sorted(await self.redis.smembers(key))
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hgetall(_keys(session_id)["meta"])
            metas: list[Any] = await pipe.execute() if ids else []
        live = [dict(m) for m in metas if m and m.get("status") == "active"]
        gone = set(ids) - {m["session_id"] for m in live}
        if gone:
            await self.redis.srem(key, *gone)
        return live
