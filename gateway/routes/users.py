"""Accounts, profiles, goals and notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from google.protobuf.field_mask_pb2 import FieldMask

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from gateway import idempotency, models
from gateway.athlete import profile
from gateway.auth import CurrentUser, owner
from gateway.limiting import auth_routes, caller_ip
from gateway.state import Gateway, Gw
from gateway.views import goal_view, notification_view, user_view
from servicekit.cachekeys import goals_key, profile_key
from servicekit.protoenum import enum_number

router = APIRouter(tags=["users"])
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the last page")]
Limit = Annotated[int, Query(ge=1, le=100)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def profile_proto(fields: models.ProfileFields) -> upb.Profile:
    values: dict[str, Any] = fields.model_dump(exclude_none=True)
    if "birth_date" in values:
        values["birth_date"] = values["birth_date"].isoformat()
    if "sex" in values:
        values["sex"] = enum_number(upb.Sex, values["sex"])
    return upb.Profile(**values)


@router.post(
    "/users/register",
    status_code=201,
    response_model=models.RegisterResponse,
    dependencies=[Depends(auth_routes)],
)
async def register(
    body: models.RegisterRequest,
    gw: Gw,
    request_key: IdempotencyKey = None,
    client: Annotated[str, Depends(caller_ip)] = "",
) -> Response:
    async def create() -> JSONResponse:
        reply = await gw.backends.users.call(
            gw.backends.user_stub.Register,
            upb.RegisterRequest(
                username=body.username,
                email=body.email,
                password=body.password,
                profile=profile_proto(body.profile) if body.profile else None,
            ),
        )
        u = reply.user
        return JSONResponse(
            {"user_id": u.user_id, "username": u.username, "email": u.email}, status_code=201
        )

    fingerprint = body.model_dump(mode="json")
    return await idempotency.once(
        gw.cache,
        request_key,
        f"register:{client}",
        fingerprint,
        gw.settings.idempotency_ttl_seconds,
        create,
    )


@router.post(
    "/users/login", response_model=models.LoginResponse, dependencies=[Depends(auth_routes)]
)
async def login(body: models.LoginRequest, gw: Gw) -> dict[str, Any]:
    reply = await gw.backends.users.call(
        gw.backends.user_stub.Authenticate,
        upb.AuthenticateRequest(email=body.email, password=body.password),
    )
    return {
        "token": reply.access_token,
        "token_type": "bearer",
        "expires_in": reply.expires_in,
        "user_id": reply.user_id,
    }


@router.get("/users/{user_id}", response_model=models.UserResponse)
async def get_user(user_id: str, caller: CurrentUser, gw: Gw) -> dict[str, Any]:
    owner(user_id, caller)
    return await profile(gw, user_id)


@router.patch("/users/{user_id}", response_model=models.UserResponse)
async def update_user(
    user_id: str, body: models.ProfileFields, caller: CurrentUser, gw: Gw
) -> dict[str, Any]:
    owner(user_id, caller)
    named = sorted(body.model_fields_set)
    reply = await gw.backends.users.call(
        gw.backends.user_stub.UpdateProfile,
        upb.UpdateProfileRequest(
            user_id=user_id, profile=profile_proto(body), update_mask=FieldMask(paths=named)
        ),
    )
    await gw.cache.forget(profile_key(user_id))
    return user_view(reply.user)


@router.post("/users/{user_id}/goals", status_code=201, response_model=models.GoalResponse)
async def create_goal(
    user_id: str, body: models.GoalCreate, caller: CurrentUser, gw: Gw
) -> dict[str, Any]:
    owner(user_id, caller)
    reply = await gw.backends.users.call(
        gw.backends.user_stub.CreateGoal,
        upb.CreateGoalRequest(
            user_id=user_id,
            goal_type=enum_number(spb.GoalType, body.goal_type) or 0,  # type: ignore[arg-type]
            target_value=body.target_value,
            target_date=body.target_date.isoformat(),
        ),
    )
    await gw.cache.forget(goals_key(user_id))
    return goal_view(reply.goal)


async def _cached_goals(
    gw: Gateway, user_id: str, field: str, load: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """One read of a user's goals through the cache: every goals read of a user shares one
    cached hash (a field per page or goal), so a write forgets them all at once."""
    result: dict[str, Any] = await gw.cache.through(
        "goals", goals_key(user_id), gw.settings.cache_goals_seconds, load, field=field
    )
    return result


@router.get("/users/{user_id}/goals", response_model=models.GoalPage)
async def list_goals(
    user_id: str, caller: CurrentUser, gw: Gw, limit: Limit = 20, cursor: Cursor = None
) -> dict[str, Any]:
    owner(user_id, caller)

    async def load() -> dict[str, Any]:
        reply = await gw.backends.users.call(
            gw.backends.user_stub.ListGoals,
            upb.ListGoalsRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
        )
        return {
            "items": [goal_view(g) for g in reply.goals],
            "next_cursor": reply.next_page_token or None,
        }

    return await _cached_goals(gw, user_id, f"page:{limit}:{cursor or ''}", load)


@router.get("/users/{user_id}/goals/{goal_id}", response_model=models.GoalResponse)
async def get_goal(user_id: str, goal_id: str, caller: CurrentUser, gw: Gw) -> dict[str, Any]:
    owner(user_id, caller)

    async def load() -> dict[str, Any]:
        reply = await gw.backends.users.call(
            gw.backends.user_stub.GetGoal, upb.GetGoalRequest(user_id=user_id, goal_id=goal_id)
        )
        return goal_view(reply.goal)

    return await _cached_goals(gw, user_id, f"goal:{goal_id}", load)


@router.patch("/users/{user_id}/goals/{goal_id}", response_model=models.GoalResponse)
async def update_goal(
    user_id: str, goal_id: str, body: models.GoalUpdate, caller: CurrentUser, gw: Gw
) -> dict[str, Any]:
    owner(user_id, caller)
    request = upb.UpdateGoalRequest(
        user_id=user_id, goal_id=goal_id, update_mask=FieldMask(paths=sorted(body.model_fields_set))
    )
    if body.target_value is not None:
        request.target_value = body.target_value
    if body.target_date is not None:
        request.target_date = body.target_date.isoformat()
    reply = await gw.backends.users.call(gw.backends.user_stub.UpdateGoal, request)
    await gw.cache.forget(goals_key(user_id))
    return goal_view(reply.goal)


@router.delete("/users/{user_id}/goals/{goal_id}", status_code=204)
async def delete_goal(user_id: str, goal_id: str, caller: CurrentUser, gw: Gw) -> Response:
    owner(user_id, caller)
    await gw.backends.users.call(
        gw.backends.user_stub.DeleteGoal, upb.DeleteGoalRequest(user_id=user_id, goal_id=goal_id)
    )
    await gw.cache.forget(goals_key(user_id))
    return Response(status_code=204)


@router.get("/users/{user_id}/notifications", response_model=models.NotificationPage)
async def notifications(
    user_id: str, caller: CurrentUser, gw: Gw, limit: Limit = 20, cursor: Cursor = None
) -> dict[str, Any]:
    owner(user_id, caller)
    reply = await gw.backends.users.call(
        gw.backends.user_stub.ListNotifications,
        upb.ListNotificationsRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
    )
    return {
        "items": [notification_view(n) for n in reply.notifications],
        "next_cursor": reply.next_page_token or None,
    }
