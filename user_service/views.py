"""Rows to protos and JSON: the shapes the outside sees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as pb
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp
from user_service.security import Cipher

Row = dict[str, Any]


def user_proto(row: Row, cipher: Cipher) -> pb.User:
    profile = pb.Profile()
    for name in ("display_name", "weight_kg", "height_cm", "resting_heart_rate", "max_heart_rate"):
        if row[name] is not None:
            setattr(profile, name, row[name])
    if row["sex"] is not None:
        profile.sex = enum_number(pb.Sex, row["sex"]) or 0  # type: ignore[assignment]
    if row["birth_date_enc"] is not None:
        profile.birth_date = cipher.decrypt(bytes(row["birth_date_enc"]))
    return pb.User(
        user_id=str(row["user_id"]),
        username=row["username"],
        email=row["email"],
        profile=profile,
        created_at=timestamp(row["created_at"]),
    )


def goal_proto(row: Row) -> pb.Goal:
    goal = pb.Goal(
        goal_id=str(row["goal_id"]),
        user_id=str(row["user_id"]),
        goal_type=enum_number(spb.GoalType, row["goal_type"]) or 0,  # type: ignore[arg-type]
        target_value=row["target_value"],
        target_date=row["target_date"].isoformat(),
        current_progress=row["current_progress"],
        status=enum_number(spb.GoalStatus, row["status"]) or 0,  # type: ignore[arg-type]
        created_at=timestamp(row["created_at"]),
    )
    if row["achieved_at"] is not None:
        goal.achieved_at.CopyFrom(timestamp(row["achieved_at"]))
    return goal


def goal_json(row: Row) -> dict[str, Any]:
    """The goal as a notification carries it (and the gateway forwards it)."""
    return {
        "goal_id": str(row["goal_id"]),
        "user_id": str(row["user_id"]),
        "goal_type": row["goal_type"],
        "target_value": row["target_value"],
        "target_date": row["target_date"].isoformat(),
        "current_progress": row["current_progress"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "achieved_at": row["achieved_at"].isoformat() if row["achieved_at"] else None,
    }


def goal_from_json(data: dict[str, Any]) -> pb.Goal:
    goal = pb.Goal(
        goal_id=data["goal_id"],
        user_id=data["user_id"],
        goal_type=enum_number(spb.GoalType, data["goal_type"]) or 0,  # type: ignore[arg-type]
        target_value=data["target_value"],
        target_date=data["target_date"],
        current_progress=data["current_progress"],
        status=enum_number(spb.GoalStatus, data["status"]) or 0,  # type: ignore[arg-type]
    )
    for name in ("created_at", "achieved_at"):
        if data.get(name):
            getattr(goal, name).CopyFrom(timestamp(dt.datetime.fromisoformat(data[name])))
    return goal


def notification_proto(row: Row) -> pb.Notification:
    return pb.Notification(
        notification_id=str(row["notification_id"]),
        user_id=str(row["user_id"]),
        kind=row["kind"],
        goal=goal_from_json(row["payload"]),
        created_at=timestamp(row["created_at"]),
    )
