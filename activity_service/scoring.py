"""Calls to the scoring service, which holds every scoring rule: a workout's score, a
week's, and the ranking of health insights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
import structlog

from activity_service.store import Doc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit import channels
from servicekit.errors import InvalidArgument
from servicekit.protoenum import enum_name, enum_number
from servicekit.protofields import timestamp
from servicekit.status import field_violations

log = structlog.get_logger("scoring")
SCORING = "scoring_service"
SCORING_DOWN = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class Scorer:
    def __init__(self, stub: scoring_pb2_grpc.ScoringServiceStub, deadline: float) -> None:
        self.stub, self.deadline = stub, deadline

    async def workout(self, doc: Doc) -> dict[str, Any] | None:
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
            reply = await self.stub.ScoreWorkout(request, timeout=self.deadline)
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

    async def week(self, docs: Sequence[Doc]) -> spb.ScoreWeekResponse:
        """The WHO weekly score of scored workouts; UNAVAILABLE naming scoring when it
        cannot answer."""
        request = spb.ScoreWeekRequest(
            workouts=[
                spb.ScoredWorkout(
                    workout_type=enum_number(spb.WorkoutType, d["workout_type"]) or 0,  # type: ignore[arg-type]
                    start_time=timestamp(d["start_time"]),
                    moderate_minutes=d["score"]["moderate_minutes"],
                    vigorous_minutes=d["score"]["vigorous_minutes"],
                )
                for d in docs
            ]
        )
        try:
            reply: spb.ScoreWeekResponse = await self.stub.ScoreWeek(request, timeout=self.deadline)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in SCORING_DOWN:
                raise channels.unavailable_from(exc, SCORING) from exc
            raise
        return reply

    async def insights(
        self, person: spb.Person, figures: spb.HealthFigures, limit: int
    ) -> list[spb.Insight]:
        """The rules' insights on a person's figures, most important first; UNAVAILABLE
        naming scoring when it cannot answer."""
        request = spb.RankInsightsRequest(person=person, figures=figures, limit=limit)
        try:
            reply = await self.stub.RankInsights(request, timeout=self.deadline)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in SCORING_DOWN:
                raise channels.unavailable_from(exc, SCORING) from exc
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(field_violations(exc), exc.details() or "") from exc
            raise
        return list(reply.insights)
