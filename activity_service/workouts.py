"""The life of a workout: start, end or log, score, add to the running totals, announce.

Each step after the write that completes a workout is idempotent and marked on the
workout document; a workout with work left carries `pending: True` and the recovery loop
finishes it, so a crash or an outage of scoring or Redis delays work but loses none."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import grpc
import structlog

from activity_service import rules
from activity_service.events import EventPublisher
from activity_service.store import Doc, Store
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from servicekit.protoenum import enum_name, enum_number
from servicekit.status import field_violations

log = structlog.get_logger("workouts")
SCORING_DOWN = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def now() -> dt.datetime:
    return rules.to_millis(dt.datetime.now(dt.UTC))


class Workouts:
    def __init__(
        self,
        store: Store,
        scoring: scoring_pb2_grpc.ScoringServiceStub,
        events: EventPublisher,
        scoring_deadline: float,
    ) -> None:
        self.store, self.scoring, self.events = store, scoring, events
        self.scoring_deadline = scoring_deadline

    async def start(
        self, user_id: str, workout_type: str, athlete: rules.Athlete, request_id: str = ""
    ) -> Doc:
        workout_id = workout_id_for(user_id, request_id)
        doc = {
            "_id": workout_id,
            "user_id": user_id,
            "workout_type": workout_type,
            "status": "active",
            "active_key": f"active:{user_id}",
            "start_time": now(),
            "athlete": _athlete_doc(athlete),
            "pending": False,
        }
        if not await self.store.insert_workout(doc):
            if request_id and (first := await self.store.workout(workout_id)):
                return first  # a repeat of a start that already happened
            active = await self.store.active_workout(user_id)
            active_id = active["_id"] if active else "unknown"
            raise FailedPrecondition(f"workout {active_id} is already active; end it first")
        return doc

    async def owned(self, user_id: str, workout_id: str) -> Doc:
        doc = await self.store.workout(workout_id)
        if doc is None or doc["user_id"] != user_id:
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
        doc = await self.owned(user_id, workout_id)
        if doc["status"] == "completed":
            return doc  # ending twice returns what the first end stored
        v = Violations()
        end = rules.to_millis(end_time) if end_time else now()
        rules.check_period(v, doc["start_time"], end, now())
        rules.check_measurements(v, avg_heart_rate, distance_m)
        v.raise_if_any()
        finished = {
            **doc,
            "end_time": end,
            "duration_seconds": (end - doc["start_time"]).total_seconds(),
            "avg_heart_rate": avg_heart_rate,
            "distance_m": distance_m,
        }
        values = {
            k: finished[k] for k in ("end_time", "duration_seconds", "avg_heart_rate", "distance_m")
        }
        values |= await self._score_fields(finished)
        completed = await self.store.complete(workout_id, values)
        if completed is None:  # a concurrent end won; answer with what it stored
            return await self.owned(user_id, workout_id)
        return await self.settle(completed)

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
    ) -> Doc:
        workout_id = workout_id_for(user_id, request_id)
        if request_id and (first := await self.store.workout(workout_id)):
            return first  # a repeat of a log that already happened
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
        }
        doc |= await self._score_fields(doc)
        if not await self.store.insert_workout(doc):  # a concurrent repeat stored it first
            return await self.owned(user_id, workout_id)
        return await self.settle(doc)

    async def _score_fields(self, doc: Doc) -> dict[str, Any]:
        score = await self._score(doc)
        return {
            "score": score,
            "score_status": "scored" if score else "pending",
            "totals_applied": False,
            "event_published": False,
            "pending": True,
        }

    async def _score(self, doc: Doc) -> dict[str, Any] | None:
        """The score, or None while scoring is unavailable (the workout is scored later)."""
        athlete = spb.Athlete(**{k: v for k, v in doc["athlete"].items() if v is not None})
        request = spb.ScoreWorkoutRequest(
            workout_type=enum_number(spb.WorkoutType, doc["workout_type"]) or 0,  # type: ignore[arg-type]
            duration_seconds=doc["duration_seconds"],
            athlete=athlete,
        )
        if doc.get("avg_heart_rate") is not None:
            request.avg_heart_rate = doc["avg_heart_rate"]
        if doc.get("distance_m") is not None:
            request.distance_m = doc["distance_m"]
        try:
            reply = await self.scoring.ScoreWorkout(request, timeout=self.scoring_deadline)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in SCORING_DOWN:
                log.warning("scoring_unavailable", workout_id=doc["_id"], code=exc.code().name)
                return None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(field_violations(exc), exc.details() or "") from exc
            raise
        s = reply.score
        return {
            "met": s.met,
            "intensity": enum_name(spb.Intensity, s.intensity),
            "intensity_source": enum_name(spb.IntensitySource, s.intensity_source),
            "calories_burned": s.calories_burned,
            "moderate_minutes": s.moderate_minutes,
            "vigorous_minutes": s.vigorous_minutes,
            "intensity_minutes": s.intensity_minutes,
            "points": s.points,
            "weight_kg_used": s.weight_kg_used,
        }

    async def settle(self, doc: Doc) -> Doc:
        """Finish what a completed workout still needs, as far as the backends allow."""
        if doc.get("score_status") == "pending":
            score = await self._score(doc)
            if score is None:
                return doc
            doc = (
                await self.store.update(doc["_id"], {"score": score, "score_status": "scored"})
                or doc
            )
        if not doc.get("totals_applied"):
            await self.store.add_to_totals(doc["user_id"], doc["_id"], *increments(doc))
            doc = await self.store.update(doc["_id"], {"totals_applied": True}) or doc
        if not doc.get("event_published"):
            if not await self.events.publish_completed(doc):
                return doc
            doc = (
                await self.store.update(doc["_id"], {"event_published": True, "pending": False})
                or doc
            )
        return doc

    async def recover(self, batch: int = 100) -> int:
        """Finish pending work left by crashes and outages; return how many were settled."""
        settled = 0
        for doc in await self.store.unfinished(batch):
            done = await self.settle(doc)
            settled += not done.get("pending")
        return settled

    async def recover_forever(self, interval: float) -> None:
        while True:
            try:
                if (count := await self.recover()) > 0:
                    log.info("recovered", workouts=count)
            except Exception:  # a failed round is retried at the next one
                log.exception("recovery_failed")
            await asyncio.sleep(interval)


def workout_id_for(user_id: str, request_id: str) -> str:
    """A fresh id, or for an idempotent request one derived from its token, so a repeat
    lands on the same document."""
    if not request_id:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:workout:{user_id}:{request_id}"))


def _athlete_doc(a: rules.Athlete) -> dict[str, Any]:
    return {
        "weight_kg": a.weight_kg,
        "age_years": a.age_years,
        "resting_heart_rate": a.resting_heart_rate,
        "max_heart_rate": a.max_heart_rate,
    }


def increments(doc: Doc) -> tuple[dict[str, float], str, dict[str, float]]:
    """What one completed, scored workout adds to its user's running totals, which ISO
    week it falls in, and what it adds to that week's totals."""
    score, kind = doc["score"], doc["workout_type"]
    values = {
        "total_workouts": 1,
        "total_duration_seconds": doc["duration_seconds"],
        "total_calories_burned": score["calories_burned"],
    }
    overall: dict[str, float] = dict(values)
    for name, value in values.items():
        overall[f"by_type.{kind}.{name}"] = value
    weekly = {**values, "intensity_minutes": score["intensity_minutes"]}
    return overall, rules.iso_week(doc["start_time"]), weekly
