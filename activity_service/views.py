"""Documents to protos."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activity_service.samples import Sample
from activity_service.series import Point
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

Doc = dict[str, Any]
TOTAL_FIELDS = ("total_workouts", "total_duration_seconds", "total_calories_burned")


def workout_type(name: str) -> Any:
    return enum_number(spb.WorkoutType, name) or 0


def workout_proto(doc: Doc) -> pb.Workout:
    workout = pb.Workout(
        workout_id=doc["_id"],
        user_id=doc["user_id"],
        workout_type=workout_type(doc["workout_type"]),
        status=pb.WORKOUT_STATUS_ACTIVE
        if doc["status"] == "active"
        else pb.WORKOUT_STATUS_COMPLETED,
        start_time=timestamp(doc["start_time"]),
        duration_seconds=doc.get("duration_seconds") or 0.0,
        athlete=spb.Athlete(**{k: v for k, v in doc.get("athlete", {}).items() if v is not None}),
        version=int(doc.get("version") or 1),
    )
    if doc.get("end_time"):
        workout.end_time.CopyFrom(timestamp(doc["end_time"]))
    if doc.get("avg_heart_rate") is not None:
        workout.avg_heart_rate = doc["avg_heart_rate"]
    if doc.get("distance_m") is not None:
        workout.distance_m = doc["distance_m"]
    # What an import read from its file (imports.py); kept with the workout since.
    source = doc.get("source") or {}
    for name in ("elevation_gain_m", "max_heart_rate"):
        if source.get(name) is not None:
            setattr(workout, name, source[name])
    if doc.get("score_status") == "pending":
        workout.score_status = pb.SCORE_STATUS_PENDING
    elif score := doc.get("score"):
        workout.score_status = pb.SCORE_STATUS_SCORED
        workout.score.CopyFrom(
            spb.WorkoutScore(
                **{k: v for k, v in score.items() if k not in ("intensity", "intensity_source")},
                intensity=enum_number(spb.Intensity, score["intensity"]) or 0,  # type: ignore[arg-type]
                intensity_source=enum_number(spb.IntensitySource, score["intensity_source"]) or 0,  # type: ignore[arg-type]
            )
        )
    return workout


def statistics_proto(
    user_id: str, totals: Doc | None, week: Doc | None, week_name: str
) -> pb.Statistics:
    totals, week = totals or {}, week or {}
    count = int(totals.get("total_workouts", 0))
    duration = float(totals.get("total_duration_seconds", 0.0))
    return pb.Statistics(
        user_id=user_id,
        total_workouts=count,
        total_duration_seconds=duration,
        total_calories_burned=round(float(totals.get("total_calories_burned", 0.0)), 2),
        average_session_duration_seconds=round(duration / count, 2) if count else 0.0,
        by_type=[
            pb.TypeTotals(
                workout_type=workout_type(kind),
                total_workouts=int(values.get("total_workouts", 0)),
                total_duration_seconds=float(values.get("total_duration_seconds", 0.0)),
                total_calories_burned=round(float(values.get("total_calories_burned", 0.0)), 2),
            )
            for kind, values in sorted(totals.get("by_type", {}).items())
            if values.get("total_workouts")  # a type whose workouts all changed or went
        ],
        current_week=pb.WeekTotals(
            week=week_name,
            total_workouts=int(week.get("total_workouts", 0)),
            total_duration_seconds=float(week.get("total_duration_seconds", 0.0)),
            total_calories_burned=round(float(week.get("total_calories_burned", 0.0)), 2),
            intensity_minutes=round(float(week.get("intensity_minutes", 0.0)), 2),
        ),
    )


def group_session_proto(doc: Doc) -> pb.GroupSession:
    return pb.GroupSession(
        session_id=doc["_id"],
        name=doc["name"],
        owner_id=doc["owner_id"],
        workout_type=workout_type(doc["workout_type"]),
        member_ids=doc["member_ids"],
        messages=[group_message_proto(m) for m in doc.get("messages", ())],
        exercise_updates=[
            pb.ExerciseUpdate(
                user_id=u["user_id"], data_json=u["data_json"], sent_at=timestamp(u["sent_at"])
            )
            for u in doc.get("exercise_updates", ())
        ],
        started_at=timestamp(doc["started_at"]),
        ended_at=timestamp(doc["ended_at"]),
        dropped_items=doc.get("dropped_items", 0),
        # Archives from before the count was kept hold their messages.
        message_count=doc.get("message_count", len(doc.get("messages", ()))),
    )


def group_message_proto(m: Doc) -> pb.GroupMessage:
    return pb.GroupMessage(user_id=m["user_id"], text=m["text"], sent_at=timestamp(m["sent_at"]))


def series_proto(points: Sequence[Point]) -> pb.ActivitySeriesResponse:
    return pb.ActivitySeriesResponse(
        points=[
            pb.ActivityPoint(
                start=timestamp(p.start),
                workouts=p.workouts,
                active_minutes=round(p.active_minutes, 2),
                intensity_minutes=round(p.intensity_minutes, 2),
                score=round(p.score, 2),
                distance_m=round(p.distance_m, 2),
                calories_burned=round(p.calories_burned, 2),
            )
            for p in points
        ]
    )


def samples_proto(samples: Sequence[Sample], recorded: int) -> pb.GetWorkoutSamplesResponse:
    reply = pb.GetWorkoutSamplesResponse(recorded_points=recorded)
    for s in samples:
        point = reply.samples.add(offset_seconds=s.offset_seconds)
        if s.heart_rate is not None:
            point.heart_rate = s.heart_rate
        if s.elevation_m is not None:
            point.elevation_m = s.elevation_m
    return reply
