"""Request and response bodies of the REST API (and so of its OpenAPI document)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.protoenum import enum_names

WORKOUT_TYPES = tuple(enum_names(spb.WorkoutType))
GOAL_TYPES = tuple(enum_names(spb.GoalType))
WorkoutType = Literal[WORKOUT_TYPES]  # type: ignore[valid-type]
GoalType = Literal[GOAL_TYPES]  # type: ignore[valid-type]
Sex = Literal["female", "male", "other"]
Intensity = Literal["light", "moderate", "vigorous"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def plain_text(cls, value: Any) -> Any:
        """Strings reach databases: no NUL characters, and nothing UTF-8 cannot carry."""
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
            try:
                value.encode()
            except UnicodeEncodeError as exc:
                raise ValueError("must be valid Unicode text") from exc
        return value


class ProfileFields(Body):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    weight_kg: Annotated[float, Field(ge=20, le=400)] | None = None
    height_cm: Annotated[float, Field(ge=50, le=280)] | None = None
    birth_date: dt.date | None = None
    sex: Sex | None = None
    resting_heart_rate: Annotated[int, Field(ge=30, le=120)] | None = None
    max_heart_rate: Annotated[int, Field(ge=100, le=250)] | None = None


class RegisterRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}
            ]
        },
    )
    username: Annotated[
        str, StringConstraints(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    ]
    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=10, max_length=1024)]
    profile: ProfileFields | None = None


class RegisterResponse(BaseModel):
    user_id: str
    username: str
    email: str


class LoginRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]
        },
    )
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds until the token expires.")
    user_id: str


class UserResponse(ProfileFields):
    model_config = ConfigDict(extra="forbid")
    user_id: str
    username: str
    email: str
    created_at: dt.datetime


class GoalCreate(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"goal_type": "intensity_minutes", "target_value": 150, "target_date": "2026-12-31"}
            ]
        },
    )
    goal_type: GoalType
    target_value: Annotated[float, Field(gt=0, le=1_000_000)]
    target_date: dt.date


class GoalUpdate(Body):
    target_value: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    target_date: dt.date | None = None


class GoalResponse(BaseModel):
    goal_id: str
    goal_type: GoalType
    target_value: float
    target_date: dt.date
    current_progress: float
    status: Literal["active", "achieved", "expired"]
    created_at: dt.datetime | None = None
    achieved_at: dt.datetime | None = None


class GoalPage(BaseModel):
    items: list[GoalResponse]
    next_cursor: str | None


class WorkoutStart(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"workout_type": "running"}]}
    )
    workout_type: WorkoutType


class WorkoutStarted(BaseModel):
    session_id: str
    start_time: dt.datetime


class WorkoutEnd(Body):
    end_time: dt.datetime | None = None
    avg_heart_rate: Annotated[int, Field(ge=30, le=250)] | None = None
    distance_m: Annotated[float, Field(ge=0, le=1_000_000)] | None = None


class WorkoutLog(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workout_type": "running",
                    "start_time": "2026-11-20T07:00:00Z",
                    "end_time": "2026-11-20T07:30:00Z",
                    "distance_m": 5000,
                }
            ]
        },
    )
    workout_type: WorkoutType
    start_time: dt.datetime
    end_time: dt.datetime
    avg_heart_rate: Annotated[int, Field(ge=30, le=250)] | None = None
    distance_m: Annotated[float, Field(ge=0, le=1_000_000)] | None = None


class WorkoutResponse(BaseModel):
    session_id: str
    user_id: str
    workout_type: WorkoutType
    status: Literal["active", "completed"]
    start_time: dt.datetime
    end_time: dt.datetime | None
    duration: float = Field(description="Seconds.")
    avg_heart_rate: int | None
    distance_m: float | None
    score_status: Literal["pending", "scored"] | None
    calories_burned: float | None
    met: float | None
    intensity: Intensity | None
    moderate_minutes: float | None
    vigorous_minutes: float | None
    intensity_minutes: float | None
    points: float | None


class WorkoutPage(BaseModel):
    items: list[WorkoutResponse]
    next_cursor: str | None


class TypeTotals(BaseModel):
    total_workouts: int
    total_duration: float
    total_calories_burned: float


class WeekTotals(TypeTotals):
    week: str
    intensity_minutes: float


class Statistics(BaseModel):
    user_id: str
    total_workouts: int
    total_duration: float
    total_calories_burned: float
    average_session_duration: float
    by_type: dict[str, TypeTotals]
    current_week: WeekTotals


class ActivityScore(BaseModel):
    week: str
    score: float = Field(description="0-100: min(100, 100 x intensity_minutes / 150).")
    moderate_minutes: float
    vigorous_minutes: float
    intensity_minutes: float
    meets_guideline: bool
    upper_target_percent: float
    strength_days: int
    meets_strength_guideline: bool
    workouts: int


class Notification(BaseModel):
    notification_id: str
    kind: str
    goal: GoalResponse
    created_at: dt.datetime


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None


class ClientLog(Body):
    level: Literal["debug", "info", "warning", "error"] = "error"
    message: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    request_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    context: dict[str, Any] | None = None


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class GroupSessionCreate(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Sunday long run", "workout_type": "running"}]},
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    workout_type: WorkoutType


class GroupSession(BaseModel):
    session_id: str
    name: str
    owner_id: str
    workout_type: WorkoutType
    status: Literal["active", "ended"]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    members: list[str] = Field(description="Members connected now.")
