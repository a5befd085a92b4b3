"""Request bodies of the REST API, validated before any backend is called."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.protoenum import enum_names

WORKOUT_TYPES = tuple(enum_names(spb.WorkoutType))
GOAL_TYPES = tuple(enum_names(spb.GoalType))
WorkoutType = Literal[WORKOUT_TYPES]  # type: ignore[valid-type]
GoalType = Literal[GOAL_TYPES]  # type: ignore[valid-type]
Sex = Literal["female", "male", "other"]
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    """An instant in UTC, within what every store and proto Timestamp can hold."""
    try:
        value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except OverflowError:  # an offset that moves the time past year 1 or 9999
        value = LATEST
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970-01-01 and 9999-01-01 (UTC)")
    return value


Instant = Annotated[dt.datetime, AfterValidator(_utc)]
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


class LoginRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]
        },
    )
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


RefreshToken = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RefreshRequest(Body):
    """A refresh token from the login or the last refresh."""

    model_config = ConfigDict(extra="forbid")
    refresh_token: RefreshToken


class PasswordChange(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "correct horse battery", "new_password": "a longer one now"}
            ]
        },
    )
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class AccountErase(Body):
    """The password, asked again: erasing an account cannot be undone."""

    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


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


class WorkoutStart(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"workout_type": "running"}]}
    )
    workout_type: WorkoutType
    user_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="Optional: the caller's own id, as clients of the first contract send "
        "it. Any other id is 403; the workout is always the caller's.",
    )


class WorkoutEnd(Body):
    end_time: Instant | None = None
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
    start_time: Instant
    end_time: Instant
    avg_heart_rate: Annotated[int, Field(ge=30, le=250)] | None = None
    distance_m: Annotated[float, Field(ge=0, le=1_000_000)] | None = None


class WorkoutEdit(Body):
    """The fields to change of a completed workout; those left out stay as they are, and
    `avg_heart_rate` or `distance_m` given as null are cleared."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"distance_m": 5200}]}
    )
    # Optional, not nullable: null is refused below, and the schema says so.
    workout_type: WorkoutType | SkipJsonSchema[None] = None
    start_time: Instant | SkipJsonSchema[None] = None
    end_time: Instant | SkipJsonSchema[None] = None
    avg_heart_rate: Annotated[int, Field(ge=30, le=250)] | None = None
    distance_m: Annotated[float, Field(ge=0, le=1_000_000)] | None = None

    @field_validator("workout_type", "start_time", "end_time", mode="after")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        """Given as null (left out, they stay): a workout always has a type and times."""
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class ClientLog(Body):
    level: Literal["debug", "info", "warning", "error"] = "error"
    message: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    request_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    context: dict[str, Any] | None = None


class GroupSessionCreate(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Sunday long run", "workout_type": "running"}]},
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    workout_type: WorkoutType
