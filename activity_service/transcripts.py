"""Archived group sessions, read by the people who took part.

An archive is one document (`group_sessions`) that holds the whole session, up to 8 MiB.
Its chat is also kept one document per message (`group_messages`, `_id` = session id and
position), so a page of the transcript is a range read of the primary key that costs the
page, never the archive. Messages are written before the archive document: once a session
is readable, its transcript is whole. Saving again writes the same ids (a repeat adds
nothing) and drops any past the new end.

A participant erased leaves nothing in other people's sessions: their messages and exercise
updates go from the archive and the transcript, and their id from its members (`forget`).
The transcript then has gaps in its positions, which a page by `_id` range reads past.

The sessions a user took part in are two range reads, of those they owned and of those they
joined (each on its index, newest first from the cursor), merged: a page costs at most twice
its size in documents, whatever the user's history."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from activity_service.store import Doc, Store
from servicekit import pagination
from servicekit.errors import FieldViolation, InvalidArgument, NotFound

PAGE = 50
# Archives handled per read while a participant is erased: each is read and rewritten whole
# (up to 8 MiB), one at a time, so a batch holds only ids.
ERASE_BATCH = 100
SESSIONS_PAGE = 20
SUMMARY_FIELDS = (
    "name",
    "owner_id",
    "workout_type",
    "member_ids",
    "started_at",
    "ended_at",
    "dropped_items",
    "message_count",
)


def message_id(session_id: str, position: int) -> str:
    # Fixed width, so the ids of one session sort in send order (an archive holds at most
    # 20,000 items).
    return f"{session_id}:{position:06d}"


def _after_all(session_id: str) -> str:
    return f"{session_id};"  # ';' follows ':': above every message id of the session


def session_range(session_id: str, start: int = 0) -> dict[str, Any]:
    """The messages of a session from position `start` on."""
    return {"_id": {"$gte": message_id(session_id, start), "$lt": _after_all(session_id)}}


def before(after: tuple[dt.datetime, str] | None) -> dict[str, Any]:
    """The sessions that come after the cursor's, newest start first (ties by `_id`)."""
    if after is None:
        return {}
    at, key = after
    return {
        "started_at": {"$lte": at},
        "$or": [{"started_at": {"$lt": at}}, {"_id": {"$lt": key}}],
    }


def newest_first(owned: list[Doc], joined: list[Doc]) -> list[Doc]:
    """Both reads as one list, newest start first, each session once (an owner who joined
    their own session is in both)."""
    unique = {d["_id"]: d for d in (*owned, *joined)}
    return sorted(unique.values(), key=lambda d: (d["started_at"], d["_id"]), reverse=True)


def took_part(doc: Doc, user_id: str) -> bool:
    return user_id == doc["owner_id"] or user_id in doc["member_ids"]


def without(doc: Doc, user_id: str) -> Doc:
    """The fields of an archive that change when `user_id` is taken out of it."""
    messages = [m for m in doc["messages"] if m["user_id"] != user_id]
    return {
        "member_ids": [m for m in doc["member_ids"] if m != user_id],
        "messages": messages,
        "exercise_updates": [u for u in doc["exercise_updates"] if u["user_id"] != user_id],
        "message_count": len(messages),
    }


def own_part(doc: Doc, user_id: str) -> Doc:
    """What of another person's session is the user's: what they said and sent there."""
    return {
        "session_id": doc["_id"],
        "name": doc["name"],
        "started_at": doc["started_at"],
        "ended_at": doc["ended_at"],
        "messages": [m for m in doc["messages"] if m["user_id"] == user_id],
        "exercise_updates": [u for u in doc["exercise_updates"] if u["user_id"] == user_id],
    }


class Transcripts:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.messages = store.group_messages

    async def save(self, doc: Doc) -> None:
        session_id = doc["_id"]
        messages = [
            {"_id": message_id(session_id, n), "session_id": session_id, **m}
            for n, m in enumerate(doc["messages"])
        ]
        if messages:
            await self.store.insert_new(self.messages, messages)
        await self.store.delete_where(self.messages, session_range(session_id, len(messages)))
        await self.store.save_group_session({**doc, "message_count": len(messages)})

    async def archive(self, session_id: str, member_id: str = "", summary: bool = False) -> Doc:
        """The archive, whole or its summary; NOT_FOUND when there is none, or when
        `member_id` is given and did not take part (a stranger learns nothing of it)."""
        if summary:
            found = [
                d
                async for d in self.store.find(
                    self.store.group_sessions, {"_id": session_id}, SUMMARY_FIELDS, limit=1
                )
            ]
            doc = found[0] if found else None
        else:
            doc = await self.store.group_session(session_id)
        if doc is None or (member_id and not took_part(doc, member_id)):
            raise NotFound("no such group session")
        return doc

    async def page(
        self, session_id: str, member_id: str, size: int, token: str
    ) -> tuple[list[Doc], str]:
        await self.archive(session_id, member_id, summary=True)
        after = pagination.decode(token)
        start = f"{session_id}:" if after is None else after[1]  # below its first message
        if not start.startswith(f"{session_id}:"):
            raise InvalidArgument([FieldViolation("page_token", "is not a valid page token")])
        query: dict[str, Any] = {"_id": {"$gt": start, "$lt": _after_all(session_id)}}
        docs = [
            d
            async for d in self.store.find(
                self.messages, query, ("user_id", "text", "sent_at"), [("_id", 1)], size + 1
            )
        ]
        return pagination.split(docs, size, "sent_at")

    async def sessions_of(self, user_id: str, size: int, token: str) -> tuple[list[Doc], str]:
        """A page of the summaries of the sessions `user_id` owned or joined, newest first."""
        after = before(pagination.decode(token))
        owned = await self._newest(size + 1, {"owner_id": user_id, **after})
        joined = await self._newest(size + 1, {"member_ids": user_id, **after})
        return pagination.split(newest_first(owned, joined), size, "started_at")

    async def _newest(self, limit: int, query: dict[str, Any]) -> list[Doc]:
        order = [("started_at", -1), ("_id", -1)]
        found = self.store.find(self.store.group_sessions, query, SUMMARY_FIELDS, order, limit)
        return [d async for d in found]

    async def _batch(self, query: dict[str, Any]) -> list[str]:
        found = self.store.find(self.store.group_sessions, query, ("_id",), limit=ERASE_BATCH)
        return [d["_id"] async for d in found]

    async def erase_owned(self, owner_id: str) -> int:
        """Delete the sessions `owner_id` owned, with their transcripts; how many."""
        erased = 0
        while ids := await self._batch({"owner_id": owner_id}):
            for session_id in ids:
                # The transcript first: a repeat after a crash in between still finds the
                # archive, so nothing is left behind.
                await self.store.delete_where(self.messages, session_range(session_id))
                await self.store.delete_where(self.store.group_sessions, {"_id": session_id})
            erased += len(ids)
        return erased

    async def forget(self, user_id: str) -> int:
        """Take `user_id` out of the sessions others owned: their messages from every
        transcript, and from each archive their messages, updates and membership. Safe to
        repeat: an archive stops matching once it is rewritten, so a repeat after a crash
        finds what is left. Returns how many archives changed."""
        await self.store.delete_where(self.messages, {"user_id": user_id})
        changed = 0
        while ids := await self._batch({"member_ids": user_id}):
            for session_id in ids:
                doc = await self.store.group_session(session_id)
                if doc is not None:  # gone meanwhile: its owner was erased
                    await self.store.set_fields(
                        self.store.group_sessions, session_id, without(doc, user_id)
                    )
            changed += len(ids)
        return changed

    async def joined(self, user_id: str) -> AsyncIterator[Doc]:
        """The user's part of each session someone else owned, one session at a time."""
        query = {"member_ids": user_id, "owner_id": {"$ne": user_id}}
        async for doc in self.store.find(self.store.group_sessions, query):
            yield own_part(doc, user_id)
