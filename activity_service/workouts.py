"""The life of a workout: start, end or log, score, add to the read model, announce.

A running workout lives in the user's slot (`active`, one per user). Ending it inserts
the completed workout into `workouts`: of concurrent ends exactly one insert succeeds,
and every caller answers with what that one stored. The winner adds the stored workout to
the totals and its week (history.py), publishes `workout.completed` (event id = workout
id) and frees the slot: one read and four writes. Work that cannot be done now (scoring
or Redis down) is handed to recovery with a marker before the slot is freed; a crash in
between leaves the slot pointing at a stored workout, which recovery or the user's next
start hands over the same way (recovery.py). Its owner's edits and deletions of a
stored workout are each a new version of it (revisions.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from activity_service import history, recovery, rules, weeks
from activity_service.events import EventPublisher
from activity_service.revisions import Revisions
from activity_service.scoring import Scorer
from activity_service.store import Doc, Store
from servicekit.errors import FailedPrecondition, IdempotencyKeyReused, NotFound, Violations


def now() -> dt.datetime:
    return rules.to_millis(dt.datetime.now(dt.UTC))


class Workouts:
    def __init__(
        self,
        store: Store,
        scorer: Scorer,
        events: EventPublisher,
        grace: dt.timedelta,
    ) -> None:
        self.store, self.scorer, self.events = store, scorer, events
        # Longer than any end or log takes, so recovery never works beside one.
        self.grace = grace
        # Edits and deletions of stored workouts (revisions.py).
        self.revisions = Revisions(store, scorer, events, grace)

    async def start(
        self,
        user_id: str,
        workout_type: str,
        athlete: rules.Athlete,
        request_id: str = "",
        fingerprint: str = "",
    ) -> Doc:
        workout_id = workout_id_for(user_id, request_id)
        if request_id and (first := await self.store.workout(workout_id)):
            return _repeat(first, fingerprint)  # of a start whose workout has ended since
        started = now()
        doc: Doc = {
            "_id": workout_id,
            "user_id": user_id,
            "workout_type": workout_type,
            "status": "active",
            "start_time": started,
            "athlete": _athlete_doc(athlete),
            **_fingerprint_doc(fingerprint),
        }
        await history.check_room(self.store, user_id, weeks.name(started), "user_id")
        running: Doc | None = None
        for _ in range(2):  # once more after handing over a slot a crashed end left
            if await self.store.start_active(doc):
                return doc
            running = await self.store.active_of(user_id)
            if running is None:
                continue  # it ended meanwhile
            if running["_id"] == workout_id:
                return _repeat(running, fingerprint)  # of a start that already happened
            if not await recovery.hand_over(self.store, running, self.grace):
                break
        active_id = running["_id"] if running else "unknown"
        raise FailedPrecondition(f"workout {active_id} is already active; end it first")

    async def owned(self, user_id: str, workout_id: str) -> Doc:
        doc = await self.store.workout(workout_id)
        if doc is None or doc["user_id"] != user_id or doc["status"] == "deleted":
            running = await self.store.active_of(user_id)
            if running is not None and running["_id"] == workout_id:
                return running
            raise NotFound("no such workout")
        return doc

    async def end(
        self,
        user_id: str,
        workout_id: str,
        end_time: dt.datetime | None,
        avg_heart_rate: int | None,
        distance_m: float | None,
    ) -> Doc:
        running = await self.store.active_of(user_id)
        if running is None or running["_id"] != workout_id:
            doc = await self.owned(user_id, workout_id)
            if doc["status"] == "active" and await recovery.adopt(self.store, doc):
                return await self.end(user_id, workout_id, end_time, avg_heart_rate, distance_m)
            return doc  # ending twice returns what the first end stored
        v = Violations()
        end = rules.to_millis(end_time) if end_time else now()
        rules.check_period(v, running["start_time"], end, now())
        rules.check_measurements(v, avg_heart_rate, distance_m)
        v.raise_if_any()
        doc = {
            **running,
            "status": "completed",
            # Older databases keep a unique index on this field.
            "active_key": f"done:{workout_id}",
            "end_time": end,
            "duration_seconds": (end - running["start_time"]).total_seconds(),
            "avg_heart_rate": avg_heart_rate,
            "distance_m": distance_m,
            "completed_at": now(),
        }
        doc |= await self._score_fields(doc)
        if not await self.store.insert_workout(doc):
            return await self.owned(user_id, workout_id)  # a concurrent end won: its result
        counted = history.counted(doc)
        await history.record(self.store, doc, {"last_end": workout_id} if counted else None)
        if not (counted and await self.events.publish_completed(doc)):
            await recovery.mark(self.store, doc, counted or None, now())
        await self.store.release_active(user_id, workout_id)
        return doc

    async def log(
        self,
        user_id: str,
        workout_type: str,
        start: dt.datetime,
        end: dt.datetime,
        avg_heart_rate: int | None,
        distance_m: float | None,
        athlete: rules.Athlete,
        request_id: str = "",
        fingerprint: str = "",
        extra: Doc | None = None,
    ) -> Doc:
        """`extra`: more fields kept with the workout (an import's summary of its file)."""
        workout_id = workout_id_for(user_id, request_id)
        if request_id and (first := await self.store.workout(workout_id)):
            return _repeat(first, fingerprint)  # of a log that already happened
        doc: Doc = {
            "_id": workout_id,
            "user_id": user_id,
            "workout_type": workout_type,
            "status": "completed",
            "active_key": f"done:{workout_id}",
            "start_time": rules.to_millis(start),
            "end_time": rules.to_millis(end),
            "duration_seconds": (rules.to_millis(end) - rules.to_millis(start)).total_seconds(),
            "avg_heart_rate": avg_heart_rate,
            "distance_m": distance_m,
            "athlete": _athlete_doc(athlete),
            "completed_at": now(),
            **_fingerprint_doc(fingerprint),
            **(extra or {}),
        }
        await history.check_room(self.store, user_id, weeks.name(doc["start_time"]), "start_time")
        doc |= await self._score_fields(doc)
        # The marker goes first, so a crash after storing leaves work recovery can find;
        # whoever made it settles, whichever concurrent repeat stored the workout.
        mine = await recovery.mark(self.store, doc, None, now() + self.grace)
        stored = await self.store.insert_workout(doc)
        if not stored:
            doc = await self.owned(user_id, workout_id)
        if not mine:
            return _repeat(doc, fingerprint)
        counted = history.counted(doc)
        if stored:
            await history.record(self.store, doc, history.applying(workout_id) if counted else None)
        else:  # stored by a repeat that raced this one, whose own attempt may have counted it
            await history.count_once(self.store, doc)
        marker = recovery.marker_id(workout_id, 0)
        if not (counted and await self.events.publish_completed(doc)):
            await self.store.set_marker(marker, {"ready_at": now(), "applied": counted or None})
            return _repeat(doc, fingerprint)
        await self.store.drop_marker(marker)
        await history.forget_applying(self.store, user_id, workout_id)
        # When a concurrent repeat with another request stored first, its workout was settled
        # above all the same (whoever made the marker settles); this request is refused.
        return _repeat(doc, fingerprint)

    async def _score_fields(self, doc: Doc) -> dict[str, Any]:
        score = await self.scorer.workout(doc)
        return {"score": score, "score_status": "scored" if score else "pending"}


def workout_id_for(user_id: str, request_id: str) -> str:
    """A fresh id, or for an idempotent request one derived from its token, so a repeat
    lands on the same document."""
    if not request_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:workout:{user_id}:{request_id}"))


def _fingerprint_doc(fingerprint: str) -> Doc:
    """Kept with the workout, so a repeat of its request id is checked against what the
    first request said even after the gateway's own record of the key is gone."""
    return {"request_fingerprint": fingerprint} if fingerprint else {}


def _repeat(first: Doc, fingerprint: str) -> Doc:
    """The workout a repeat of a request id answers with, when it is the same request."""
    IdempotencyKeyReused.check(first.get("request_fingerprint"), fingerprint)
    if first["status"] == "deleted":
        raise FailedPrecondition("the workout this request made has been deleted since")
    return first


def _athlete_doc(a: rules.Athlete) -> dict[str, Any]:
    return {
        "weight_kg": a.weight_kg,
        "age_years": a.age_years,
        "resting_heart_rate": a.resting_heart_rate,
        "max_heart_rate": a.max_heart_rate,
    }
