"""Response bodies of the REST API: the one definition of each shape, for the OpenAPI
document and for the wire. Each knows how to be made from its proto."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel, Field

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from gateway.bodies import GoalType, Intensity, ProfileFields, WorkoutType
from servicekit.protoenum import enum_name
from servicekit.protofields import optional, to_datetime


def when(message: Message, name: str) -> dt.datetime | None:
    """An optional Timestamp field as a datetime, None when unset."""
    return to_datetime(getattr(message, name)) if message.HasField(name) else None


def proto_fields(message: Message) -> dict[str, Any]:
    """A message's fields by their proto names, unset scalars included as zero."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class RegisterResponse(BaseModel):
    user_id: str
    username: str
    email: str


class LoginResponse(BaseModel):
    token: str = Field(description="The access token, for the Authorization header.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    user_id: str
    refresh_token: str = Field(
        description="Good for one POST /users/refresh, which answers a new pair; presenting "
        "it a second time signs the session out."
    )
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires unused.")
    session_id: str = Field(description="The sign-in session the tokens belong to.")

    @classmethod
    def from_proto(cls, reply: upb.AuthenticateResponse) -> LoginResponse:
        return cls(
            token=reply.access_token,
            expires_in=reply.expires_in,
            user_id=reply.user_id,
            refresh_token=reply.refresh_token,
            refresh_expires_in=reply.refresh_expires_in,
            session_id=reply.session_id,
        )


class SignInSession(BaseModel):
    session_id: str
    user_agent: str
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    current: bool = Field(description="The session of the token that asked.")


class SignInSessions(BaseModel):
    sessions: list[SignInSession]


class PasswordChanged(BaseModel):
    signed_out: int = Field(description="How many other sessions were signed out.")


class UserResponse(ProfileFields):
    user_id: str
    username: str
    email: str
    created_at: dt.datetime

    @classmethod
    def from_proto(cls, u: upb.User) -> UserResponse:
        p = u.profile
        sex = optional(p, "sex")
        return cls(
            user_id=u.user_id,
            username=u.username,
            email=u.email,
            created_at=to_datetime(u.created_at),
            display_name=optional(p, "display_name"),
            weight_kg=optional(p, "weight_kg"),
            height_cm=optional(p, "height_cm"),
            birth_date=optional(p, "birth_date"),
            sex=enum_name(upb.Sex, sex) if sex is not None else None,
            resting_heart_rate=optional(p, "resting_heart_rate"),
            max_heart_rate=optional(p, "max_heart_rate"),
        )


class GoalResponse(BaseModel):
    goal_id: str
    goal_type: GoalType
    target_value: float
    target_date: dt.date
    current_progress: float
    status: Literal["active", "achieved", "expired"]
    created_at: dt.datetime | None = None
    achieved_at: dt.datetime | None = None

    @classmethod
    def from_proto(cls, g: upb.Goal) -> GoalResponse:
        return cls(
            goal_id=g.goal_id,
            goal_type=enum_name(spb.GoalType, g.goal_type),
            target_value=g.target_value,
            target_date=g.target_date,
            current_progress=g.current_progress,
            status=enum_name(spb.GoalStatus, g.status),
            created_at=when(g, "created_at"),
            achieved_at=when(g, "achieved_at"),
        )


class GoalPage(BaseModel):
    items: list[GoalResponse]
    next_cursor: str | None


class WorkoutStarted(BaseModel):
    session_id: str
    start_time: dt.datetime


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
    version: int = Field(description="1 as stored, +1 each change; the ETag of the workout.")
    elevation_gain_m: float | None = Field(
        None, description="Metres climbed, for a workout imported from a file with elevation."
    )
    max_heart_rate: int | None = Field(
        None, description="Highest heart rate, for a workout imported from a file with one."
    )

    @classmethod
    def from_proto(cls, w: apb.Workout) -> WorkoutResponse:
        s = w.score if w.score_status == apb.SCORE_STATUS_SCORED else None
        return cls(
            session_id=w.workout_id,
            user_id=w.user_id,
            workout_type=enum_name(spb.WorkoutType, w.workout_type),
            status="active" if w.status == apb.WORKOUT_STATUS_ACTIVE else "completed",
            start_time=to_datetime(w.start_time),
            end_time=when(w, "end_time"),
            duration=w.duration_seconds,
            avg_heart_rate=optional(w, "avg_heart_rate"),
            distance_m=optional(w, "distance_m"),
            score_status=enum_name(apb.ScoreStatus, w.score_status),
            calories_burned=s.calories_burned if s else None,
            met=s.met if s else None,
            intensity=enum_name(spb.Intensity, s.intensity) if s else None,
            moderate_minutes=s.moderate_minutes if s else None,
            vigorous_minutes=s.vigorous_minutes if s else None,
            intensity_minutes=s.intensity_minutes if s else None,
            points=s.points if s else None,
            version=w.version or 1,
            elevation_gain_m=optional(w, "elevation_gain_m"),
            max_heart_rate=optional(w, "max_heart_rate"),
        )


class WorkoutSample(BaseModel):
    offset_seconds: float = Field(description="Seconds from the workout's start.")
    heart_rate: int | None = Field(description="Beats per minute, where the point has one.")
    elevation_m: float | None = Field(description="Metres, where the point has one.")


class WorkoutSamples(BaseModel):
    session_id: str
    samples: list[WorkoutSample] = Field(description="In time order, evenly spread.")
    recorded_points: int = Field(
        description="Points with heart rate or elevation in the file, before thinning."
    )

    @classmethod
    def from_proto(cls, session_id: str, r: apb.GetWorkoutSamplesResponse) -> WorkoutSamples:
        return cls(
            session_id=session_id,
            samples=[
                WorkoutSample(
                    offset_seconds=s.offset_seconds,
                    heart_rate=optional(s, "heart_rate"),
                    elevation_m=optional(s, "elevation_m"),
                )
                for s in r.samples
            ],
            recorded_points=r.recorded_points,
        )


class WorkoutPage(BaseModel):
    items: list[WorkoutResponse]
    next_cursor: str | None


class TypeTotals(BaseModel):
    total_workouts: int
    total_duration: float
    total_calories_burned: float

    @classmethod
    def from_proto(cls, t: apb.TypeTotals | apb.Statistics | apb.WeekTotals) -> TypeTotals:
        return cls(
            total_workouts=t.total_workouts,
            total_duration=t.total_duration_seconds,
            total_calories_burned=t.total_calories_burned,
        )


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

    @classmethod
    def from_proto(cls, s: apb.Statistics) -> Statistics:
        week = s.current_week
        return cls(
            user_id=s.user_id,
            total_workouts=s.total_workouts,
            total_duration=s.total_duration_seconds,
            total_calories_burned=s.total_calories_burned,
            average_session_duration=s.average_session_duration_seconds,
            by_type={
                enum_name(spb.WorkoutType, t.workout_type) or "": TypeTotals.from_proto(t)
                for t in s.by_type
            },
            current_week=WeekTotals(
                week=week.week,
                intensity_minutes=week.intensity_minutes,
                **TypeTotals.from_proto(week).model_dump(),
            ),
        )


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

    @classmethod
    def from_proto(cls, reply: apb.GetActivityScoreResponse) -> ActivityScore:
        return cls(week=reply.week, workouts=reply.workouts, **proto_fields(reply.score))


class Notification(BaseModel):
    notification_id: str
    kind: str
    goal: GoalResponse
    created_at: dt.datetime

    @classmethod
    def from_proto(cls, n: upb.Notification) -> Notification:
        return cls(
            notification_id=n.notification_id,
            kind=n.kind,
            goal=GoalResponse.from_proto(n.goal),
            created_at=to_datetime(n.created_at),
        )


class NotificationPage(BaseModel):
    items: list[Notification]
    next_cursor: str | None


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class Ticket(BaseModel):
    ticket: str = Field(description="Connect with /api/v1/ws?ticket=…; good for one connection.")
    expires_in: int = Field(description="Seconds the ticket is good for.")


class GroupSession(BaseModel):
    session_id: str
    name: str
    owner_id: str
    workout_type: WorkoutType
    status: Literal["active", "ended"]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    members: list[str] = Field(description="Members connected now.")
    participants: list[str] = Field(
        description="Everyone who took part: the owner and whoever joined, ever."
    )
    message_count: int | None = Field(
        default=None,
        description="Chat messages in the archive (ended sessions): read them at "
        "GET /group-sessions/{id}/messages.",
    )

    @classmethod
    def from_proto(cls, s: apb.GroupSession) -> GroupSession:
        return cls(
            session_id=s.session_id,
            name=s.name,
            owner_id=s.owner_id,
            workout_type=enum_name(spb.WorkoutType, s.workout_type),
            status="ended",
            started_at=to_datetime(s.started_at),
            ended_at=to_datetime(s.ended_at),
            members=[],
            participants=sorted({s.owner_id, *s.member_ids}),
            message_count=s.message_count,
        )


class GroupSessionPage(BaseModel):
    items: list[GroupSession] = Field(description="Live and ended sessions, newest start first.")
    next_cursor: str | None


class GroupMessage(BaseModel):
    user_id: str
    message: str
    sent_at: dt.datetime


class GroupMessagePage(BaseModel):
    items: list[GroupMessage] = Field(description="Oldest first.")
    next_cursor: str | None


class WebSession(BaseModel):
    """The web page's sign-in: the access token only. Its refresh token is in an httpOnly
    cookie, out of the page's reach."""

    token: str = Field(description="The access token, for the Authorization header.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    user_id: str
    session_id: str

    @classmethod
    def of(cls, login: LoginResponse) -> WebSession:
        return cls(
            token=login.token,
            expires_in=login.expires_in,
            user_id=login.user_id,
            session_id=login.session_id,
        )
