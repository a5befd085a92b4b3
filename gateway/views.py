"""Protos to the REST shapes (plain dicts, so they can be cached as JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from servicekit.protoenum import enum_name

PROFILE = (
    "display_name",
    "weight_kg",
    "height_cm",
    "birth_date",
    "sex",
    "resting_heart_rate",
    "max_heart_rate",
)


def iso(ts: Any) -> str:
    return str(ts.ToDatetime(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"))


def user_view(u: upb.User) -> dict[str, Any]:
    p = u.profile
    view: dict[str, Any] = {
        "user_id": u.user_id,
        "username": u.username,
        "email": u.email,
        "created_at": iso(u.created_at),
    }
    for name in PROFILE:
        value = getattr(p, name) if p.HasField(name) else None  # type: ignore[arg-type]
        view[name] = enum_name(upb.Sex, value) if name == "sex" and value is not None else value
    return view


def goal_view(g: upb.Goal) -> dict[str, Any]:
    return {
        "goal_id": g.goal_id,
        "goal_type": enum_name(spb.GoalType, g.goal_type),
        "target_value": g.target_value,
        "target_date": g.target_date,
        "current_progress": g.current_progress,
        "status": enum_name(spb.GoalStatus, g.status),
        "created_at": iso(g.created_at) if g.HasField("created_at") else None,
        "achieved_at": iso(g.achieved_at) if g.HasField("achieved_at") else None,
    }


def workout_view(w: apb.Workout) -> dict[str, Any]:
    scored = w.score_status == apb.SCORE_STATUS_SCORED
    s = w.score

    def score(name: str) -> Any:
        return getattr(s, name) if scored else None

    return {
        "session_id": w.workout_id,
        "user_id": w.user_id,
        "workout_type": enum_name(spb.WorkoutType, w.workout_type),
        "status": "active" if w.status == apb.WORKOUT_STATUS_ACTIVE else "completed",
        "start_time": iso(w.start_time),
        "end_time": iso(w.end_time) if w.HasField("end_time") else None,
        "duration": w.duration_seconds,
        "avg_heart_rate": w.avg_heart_rate if w.HasField("avg_heart_rate") else None,
        "distance_m": w.distance_m if w.HasField("distance_m") else None,
        "score_status": enum_name(apb.ScoreStatus, w.score_status),
        "calories_burned": score("calories_burned"),
        "met": score("met"),
        "intensity": enum_name(spb.Intensity, s.intensity) if scored else None,
        "moderate_minutes": score("moderate_minutes"),
        "vigorous_minutes": score("vigorous_minutes"),
        "intensity_minutes": score("intensity_minutes"),
        "points": score("points"),
    }


def totals_view(t: Any) -> dict[str, Any]:
    return {
        "total_workouts": t.total_workouts,
        "total_duration": t.total_duration_seconds,
        "total_calories_burned": t.total_calories_burned,
    }


def statistics_view(s: apb.Statistics) -> dict[str, Any]:
    return {
        "user_id": s.user_id,
        **totals_view(s),
        "average_session_duration": s.average_session_duration_seconds,
        "by_type": {enum_name(spb.WorkoutType, t.workout_type): totals_view(t) for t in s.by_type},
        "current_week": {
            "week": s.current_week.week,
            **totals_view(s.current_week),
            "intensity_minutes": s.current_week.intensity_minutes,
        },
    }


def notification_view(n: upb.Notification) -> dict[str, Any]:
    return {
        "notification_id": n.notification_id,
        "kind": n.kind,
        "goal": goal_view(n.goal),
        "created_at": iso(n.created_at),
    }
