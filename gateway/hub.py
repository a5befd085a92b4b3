"""This replica's WebSocket connections and their fan-out.

The hub holds one Redis pub/sub connection, subscribed to the channel of every session
that has a member connected here, to the notify channel of every user connected here, and
to the revoked sign-in sessions (servicekit.revocations), whose sockets it closes.
A published update is serialised once and queued to each local socket; a socket whose
queue is full is a slow reader and is dropped, so nobody else waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from gateway.groups import channel, stream_order
from servicekit.background import Background
from servicekit.events import notify_channel
from servicekit.revocations import REVOKED_CHANNEL, RevokedSessions

log = structlog.get_logger("hub")
GROUP_PREFIX = "fitmesh.group."
NOTIFY_PREFIX = "fitmesh.notify."


class Connection:
    """One WebSocket: its user, the sessions it joined, and its bounded outgoing queue."""

    def __init__(self, user_id: str, session_id: str, queue_size: int) -> None:
        self.user_id, self.session_id = user_id, session_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        # Per joined session: the newest log entry its joined snapshot covered, or None while
        # joining, when updates wait in the backlog until the snapshot is sent.
        self.sessions: dict[str, tuple[int, int] | None] = {}
        self.backlog: dict[str, list[tuple[tuple[int, int], str]]] = {}
        # Set when this socket fell too far behind; its endpoint then lets it go.
        self.dropped = asyncio.Event()
        # Set when its sign-in session is revoked; its endpoint then closes it.
        self.revoked = asyncio.Event()

    def deliver(self, text: str) -> None:
        if self.dropped.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("slow_reader_dropped", user_id=self.user_id)
            self.dropped.set()

    def send(self, frame: dict[str, Any]) -> None:
        self.deliver(json.dumps(frame, separators=(",", ":")))


class Hub:
    def __init__(self, redis: aioredis.Redis, revoked: RevokedSessions) -> None:
        self.redis, self.revoked = redis, revoked
        self.sessions: dict[str, set[Connection]] = defaultdict(set)
        self.users: dict[str, set[Connection]] = defaultdict(set)
        self.on_session_ended: Callable[[str], None] = lambda session_id: None
        self._pubsub: Any = None
        self._listener = Background(self._listen_forever)
        self._ready = asyncio.Event()

    async def start(self, wait: float = 2.0) -> None:
        """Start listening, and give the first subscription up to `wait` seconds: a socket
        accepted before it would be refused as if Redis were away. Past that the gateway
        starts anyway, degraded, and the listener keeps trying."""
        self._listener.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait)

    async def stop(self) -> None:
        await self._listener.stop()

    async def _subscribe(self, name: str) -> None:
        await self._ready.wait()
        with contextlib.suppress(RedisError):
            await self._pubsub.subscribe(name)

    async def _unsubscribe(self, name: str) -> None:
        if self._ready.is_set():
            with contextlib.suppress(RedisError):
                await self._pubsub.unsubscribe(name)

    @property
    def ready(self) -> bool:
        """Connected to Redis pub/sub: what a socket hears arrives."""
        return self._ready.is_set()

    async def add_user(self, conn: Connection) -> None:
        first = not self.users[conn.user_id]
        self.users[conn.user_id].add(conn)
        if first:
            await self._subscribe(notify_channel(conn.user_id))

    async def remove_user(self, conn: Connection) -> None:
        self.users[conn.user_id].discard(conn)
        if not self.users[conn.user_id]:
            del self.users[conn.user_id]
            await self._unsubscribe(notify_channel(conn.user_id))

    async def begin_join(self, session_id: str, conn: Connection) -> None:
        """Listen to the session before its snapshot is read, holding updates back."""
        conn.sessions[session_id] = None
        conn.backlog[session_id] = []
        first = not self.sessions[session_id]
        self.sessions[session_id].add(conn)
        if first:
            await self._subscribe(channel(session_id))

    def finish_join(
        self, session_id: str, conn: Connection, newest: str, joined: dict[str, Any]
    ) -> None:
        """Send the snapshot, then whatever came after it; nothing twice, nothing lost."""
        mark = stream_order(newest)
        conn.sessions[session_id] = mark
        conn.send(joined)
        for order, text in conn.backlog.pop(session_id, []):
            if order > mark:
                conn.deliver(text)

    async def remove_member(self, session_id: str, conn: Connection) -> None:
        conn.sessions.pop(session_id, None)
        conn.backlog.pop(session_id, None)
        members = self.sessions.get(session_id)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self.sessions[session_id]
            await self._unsubscribe(channel(session_id))

    async def _listen_forever(self) -> None:
        while True:
            try:
                self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                # Subscribe to something at once: listening needs a subscription, and after
                # a reconnect every channel this replica still needs is taken again.
                wanted = [channel(s) for s in self.sessions] + [
                    notify_channel(u) for u in self.users
                ]
                await self._pubsub.subscribe("fitmesh.hub", REVOKED_CHANNEL, *wanted)
                await self.revoked.load(self.redis)  # after subscribing: nothing falls between
                self._ready.set()
                async for message in self._pubsub.listen():
                    if message and message.get("type") == "message":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._ready.clear()
                log.warning("hub_reconnecting", error=str(exc))
                await asyncio.sleep(1)
            finally:
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()

    def _dispatch(self, name: str, data: str) -> None:
        if name == REVOKED_CHANNEL:
            self._session_revoked(self.revoked.heard(data))
        elif name.startswith(GROUP_PREFIX):
            self._group_update(name.removeprefix(GROUP_PREFIX), data)
        elif name.startswith(NOTIFY_PREFIX):
            for conn in list(self.users.get(name.removeprefix(NOTIFY_PREFIX), ())):
                conn.deliver(data)

    def _session_revoked(self, session_id: str) -> None:
        for conns in self.users.values():
            for conn in conns:
                if conn.session_id == session_id:
                    conn.revoked.set()

    def _group_update(self, session_id: str, data: str) -> None:
        entry_id, _, frame_text = data.partition(" ")
        order = stream_order(entry_id)
        frame = json.loads(frame_text)
        frame["data"]["id"] = entry_id
        text = json.dumps(frame, separators=(",", ":"))
        for conn in list(self.sessions.get(session_id, ())):
            mark = conn.sessions.get(session_id, (0, 0))
            if mark is None:
                conn.backlog.setdefault(session_id, []).append((order, text))
            elif order > mark:  # what the joined snapshot did not already hold
                conn.deliver(text)
        if frame["update_type"] == "session_ended":
            self.on_session_ended(session_id)
