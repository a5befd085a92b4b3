"""Accounts, profiles, goals and notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from gateway import bodies, idempotency, responses
from gateway.audit import audited
from gateway.deps import Authenticated, AuthRoute, CachedRead, CachedReadOf, Svc, client_ip
from gateway.errors import ApiError
from servicekit.cachekeys import goals_key, insights_key, profile_key

router = APIRouter(tags=["users"])
# The cached reads: on a router of their own, which the app matches before every other
# (routes are matched in order, on every request) and without a body limit (they take
# no body), so the hot path meets the fewest routes and layers.
reads = APIRouter(tags=["users"])
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the last page")]
Limit = Annotated[int, Query(ge=1, le=100)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def _goals_page(request: Request) -> str:
    query = request.query_params
    return f"page:{query.get('limit', '')}:{query.get('cursor', '')}"


def _goal(request: Request) -> str:
    return f"goal:{request.path_params['goal_id']}"


ProfileRead = Annotated[CachedRead, Depends(CachedReadOf("profile", profile_key))]
GoalsRead = Annotated[CachedRead, Depends(CachedReadOf("goals", goals_key, _goals_page))]
GoalRead = Annotated[CachedRead, Depends(CachedReadOf("goals", goals_key, _goal))]


@reads.get("/users/{user_id}", response_model=responses.UserResponse)
@audited("read", "profile")
async def get_user(user_id: str, read: ProfileRead) -> Response:
    read.caller.owns(user_id)
    return await read.answer(lambda: read.svc.clients.users.user(user_id))


@reads.get("/users/{user_id}/goals", response_model=responses.GoalPage)
@audited("read", "goals")
async def list_goals(
    user_id: str, read: GoalsRead, limit: Limit = 20, cursor: Cursor = None
) -> Response:
    """Every goals read of a user shares one cached hash (a field per page or goal), so a
    write forgets them all at once."""
    read.caller.owns(user_id)
    return await read.answer(lambda: read.svc.clients.users.goals(user_id, limit, cursor))


@reads.get("/users/{user_id}/goals/{goal_id}", response_model=responses.GoalResponse)
@audited("read", "goal:{goal_id}")
async def get_goal(user_id: str, goal_id: str, read: GoalRead) -> Response:
    read.caller.owns(user_id)
    return await read.answer(lambda: read.svc.clients.users.goal(user_id, goal_id))


@router.post(
    "/users/register",
    status_code=201,
    response_model=responses.RegisterResponse,
    dependencies=[AuthRoute],
)
async def register(
    body: bodies.RegisterRequest, request: Request, svc: Svc, key: IdempotencyKey = None
) -> Response:
    return await idempotency.once(
        svc.cache,
        key,
        f"register:{client_ip(request)}",
        body,
        svc.settings.idempotency_ttl_seconds,
        lambda attempt: svc.clients.users.register(body, attempt),
        secrets=frozenset({"password"}),
    )


@router.post("/users/login", response_model=responses.LoginResponse, dependencies=[AuthRoute])
async def login(body: bodies.LoginRequest, request: Request, svc: Svc) -> responses.LoginResponse:
    """Starts a sign-in session: a short-lived access token and a refresh token
    (POST /users/refresh). Failed logins are limited per account and per address (429 with
    Retry-After)."""
    return await sign_in(body, request, svc)


async def sign_in(body: bodies.LoginRequest, request: Request, svc: Svc) -> responses.LoginResponse:
    """A login behind the failed-login limits; the web page's session signs in through it too."""
    ip = client_ip(request)
    await svc.lockout.check(body.email, ip)
    try:
        return await svc.clients.users.login(body, request.headers.get("user-agent", ""))
    except ApiError as error:
        if error.status == 401:
            await svc.lockout.failed(body.email, ip)
        raise


@router.patch("/users/{user_id}", response_model=responses.UserResponse)
@audited("update", "profile")
async def update_user(
    user_id: str, body: bodies.ProfileFields, caller: Authenticated, svc: Svc
) -> responses.UserResponse:
    caller.owns(user_id)
    user = await svc.clients.users.update_profile(user_id, body)
    # Age, sex and weight personalise the health insights.
    await svc.cache.forget(profile_key(user_id), insights_key(user_id))
    return user


@router.post("/users/{user_id}/goals", status_code=201, response_model=responses.GoalResponse)
@audited("create", "goal")
async def create_goal(
    user_id: str, body: bodies.GoalCreate, caller: Authenticated, svc: Svc
) -> responses.GoalResponse:
    caller.owns(user_id)
    goal = await svc.clients.users.create_goal(user_id, body)
    await svc.cache.forget(goals_key(user_id))
    return goal


@router.patch("/users/{user_id}/goals/{goal_id}", response_model=responses.GoalResponse)
@audited("update", "goal:{goal_id}")
async def update_goal(
    user_id: str, goal_id: str, body: bodies.GoalUpdate, caller: Authenticated, svc: Svc
) -> responses.GoalResponse:
    caller.owns(user_id)
    goal = await svc.clients.users.update_goal(user_id, goal_id, body)
    await svc.cache.forget(goals_key(user_id))
    return goal


@router.delete("/users/{user_id}/goals/{goal_id}", status_code=204)
@audited("delete", "goal:{goal_id}")
async def delete_goal(user_id: str, goal_id: str, caller: Authenticated, svc: Svc) -> Response:
    caller.owns(user_id)
    await svc.clients.users.delete_goal(user_id, goal_id)
    await svc.cache.forget(goals_key(user_id))
    return Response(status_code=204)


@router.get("/users/{user_id}/notifications", response_model=responses.NotificationPage)
@audited("read", "notifications")
async def notifications(
    user_id: str, caller: Authenticated, svc: Svc, limit: Limit = 20, cursor: Cursor = None
) -> responses.NotificationPage:
    caller.owns(user_id)
    return await svc.clients.users.notifications(user_id, limit, cursor)
