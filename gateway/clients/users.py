"""The user service, as the routes see it: accounts, profiles, goals and notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from fitmesh.user.v1 import user_pb2_grpc
from gateway import bodies, responses
from gateway.clients import audit, personal, sessions, webhooks
from gateway.clients.backend import Backend
from gateway.idempotency import Attempt
from gateway.settings import GatewaySettings
from servicekit.protoenum import enum_number

IDEMPOTENT = ("GetUser", "ListGoals", "GetGoal", "ListNotifications", "Authenticate")
# Where guidance differs by sex; any other answer gets the guidance for everyone.
SEXES = {upb.SEX_FEMALE: spb.SEX_FEMALE, upb.SEX_MALE: spb.SEX_MALE}


def _profile(fields: bodies.ProfileFields) -> upb.Profile:
    values: dict[str, Any] = fields.model_dump(exclude_none=True)
    if "birth_date" in values:
        values["birth_date"] = values["birth_date"].isoformat()
    if "sex" in values:
        values["sex"] = enum_number(upb.Sex, values["sex"])
    return upb.Profile(**values)


def age(birth: str, today: dt.date) -> int:
    born = dt.date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Users:
    def __init__(self, settings: GatewaySettings) -> None:
        self.backend = Backend(
            "user_service",
            settings.user_service_addrs,
            {
                "fitmesh.user.v1.UserService": IDEMPOTENT,
                sessions.SERVICE: sessions.IDEMPOTENT,
                personal.ACCOUNT_SERVICE: personal.ACCOUNT_IDEMPOTENT,
                audit.SERVICE: audit.IDEMPOTENT,
                webhooks.SERVICE: webhooks.IDEMPOTENT,
            },
            settings,
        )
        self.stub = user_pb2_grpc.UserServiceStub(self.backend.channel)
        # Sessions are kept by the user service's replicas: the same channel and breaker.
        self.sessions = sessions.Sessions(self.backend)
        self.webhooks = webhooks.Webhooks(self.backend, settings.webhook_deadline_seconds)

    async def register(
        self, body: bodies.RegisterRequest, attempt: Attempt
    ) -> responses.RegisterResponse:
        reply = await self.backend.call(
            self.stub.Register,
            upb.RegisterRequest(
                username=body.username,
                email=body.email,
                password=body.password,
                profile=_profile(body.profile) if body.profile else None,
                # Registrations come from everyone: the key is kept one per scope (address).
                request_id=attempt.scoped_key,
                request_fingerprint=attempt.fingerprint,
            ),
        )
        u = reply.user
        return responses.RegisterResponse(user_id=u.user_id, username=u.username, email=u.email)

    async def login(self, body: bodies.LoginRequest, user_agent: str) -> responses.LoginResponse:
        reply = await self.backend.call(
            self.stub.Authenticate,
            upb.AuthenticateRequest(
                email=body.email, password=body.password, user_agent=user_agent
            ),
        )
        return responses.LoginResponse.from_proto(reply)

    async def user(self, user_id: str) -> responses.UserResponse:
        reply = await self.backend.call(self.stub.GetUser, upb.GetUserRequest(user_id=user_id))
        return responses.UserResponse.from_proto(reply.user)

    async def athlete(self, user_id: str) -> spb.Athlete:
        """The caller's numbers as a workout records them: always read from the user
        service, never from a cache, so a workout is scored with the profile as it is."""
        reply = await self.backend.call(self.stub.GetUser, upb.GetUserRequest(user_id=user_id))
        p = reply.user.profile
        athlete = spb.Athlete()
        if p.HasField("weight_kg"):
            athlete.weight_kg = p.weight_kg
        if p.HasField("birth_date"):
            years = age(p.birth_date, dt.datetime.now(dt.UTC).date())
            athlete.age_years = max(5, min(120, years))
        if p.HasField("resting_heart_rate"):
            athlete.resting_heart_rate = p.resting_heart_rate
        if p.HasField("max_heart_rate"):
            athlete.max_heart_rate = p.max_heart_rate
        return athlete

    async def person(self, user_id: str) -> spb.Person:
        """What the health rules personalise by, from the profile."""
        reply = await self.backend.call(self.stub.GetUser, upb.GetUserRequest(user_id=user_id))
        p = reply.user.profile
        person = spb.Person(sex=SEXES.get(p.sex, spb.SEX_UNSPECIFIED))
        if p.HasField("weight_kg"):
            person.weight_kg = p.weight_kg
        if p.HasField("birth_date"):
            person.age_years = max(0, age(p.birth_date, dt.datetime.now(dt.UTC).date()))
        return person

    async def update_profile(
        self, user_id: str, body: bodies.ProfileFields
    ) -> responses.UserResponse:
        reply = await self.backend.call(
            self.stub.UpdateProfile,
            upb.UpdateProfileRequest(
                user_id=user_id,
                profile=_profile(body),
                update_mask=FieldMask(paths=sorted(body.model_fields_set)),
            ),
        )
        return responses.UserResponse.from_proto(reply.user)

    async def create_goal(self, user_id: str, body: bodies.GoalCreate) -> responses.GoalResponse:
        reply = await self.backend.call(
            self.stub.CreateGoal,
            upb.CreateGoalRequest(
                user_id=user_id,
                goal_type=enum_number(spb.GoalType, body.goal_type) or 0,  # type: ignore[arg-type]
                target_value=body.target_value,
                target_date=body.target_date.isoformat(),
            ),
        )
        return responses.GoalResponse.from_proto(reply.goal)

    async def goals(self, user_id: str, limit: int, cursor: str | None) -> responses.GoalPage:
        reply = await self.backend.call(
            self.stub.ListGoals,
            upb.ListGoalsRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
        )
        return responses.GoalPage(
            items=[responses.GoalResponse.from_proto(g) for g in reply.goals],
            next_cursor=reply.next_page_token or None,
        )

    async def goal(self, user_id: str, goal_id: str) -> responses.GoalResponse:
        reply = await self.backend.call(
            self.stub.GetGoal, upb.GetGoalRequest(user_id=user_id, goal_id=goal_id)
        )
        return responses.GoalResponse.from_proto(reply.goal)

    async def update_goal(
        self, user_id: str, goal_id: str, body: bodies.GoalUpdate
    ) -> responses.GoalResponse:
        request = upb.UpdateGoalRequest(
            user_id=user_id,
            goal_id=goal_id,
            update_mask=FieldMask(paths=sorted(body.model_fields_set)),
        )
        if body.target_value is not None:
            request.target_value = body.target_value
        if body.target_date is not None:
            request.target_date = body.target_date.isoformat()
        reply = await self.backend.call(self.stub.UpdateGoal, request)
        return responses.GoalResponse.from_proto(reply.goal)

    async def delete_goal(self, user_id: str, goal_id: str) -> None:
        await self.backend.call(
            self.stub.DeleteGoal, upb.DeleteGoalRequest(user_id=user_id, goal_id=goal_id)
        )

    async def notifications(
        self, user_id: str, limit: int, cursor: str | None
    ) -> responses.NotificationPage:
        reply = await self.backend.call(
            self.stub.ListNotifications,
            upb.ListNotificationsRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
        )
        return responses.NotificationPage(
            items=[responses.Notification.from_proto(n) for n in reply.notifications],
            next_cursor=reply.next_page_token or None,
        )
